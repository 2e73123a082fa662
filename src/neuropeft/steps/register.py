"""register a T1w or b=0 brain to the MNI152 2009a template; write transforms and JSON"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--moving IMG --modality t1w|dwi --out-prefix P [--settings JSON]``."""
    parser.add_argument(
        "--moving",
        required=True,
        type=Path,
        help="3D brain image: skullstrip-t1w --out-brain or skullstrip-dwi --out-meanb0",
    )
    parser.add_argument("--modality", required=True, choices=["t1w", "dwi"], help="contrast of the moving image")
    parser.add_argument(
        "--out-prefix",
        required=True,
        type=Path,
        help="output prefix P: writes P_fwd_*.mat/.nii.gz, P_inv_*, P_space-MNI152NLin2009aSym_{T1w|b0}.nii.gz (+ .json) and P_transforms.json",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Register and write the transforms, the registered image and the transforms JSON (last)."""
    from neuropeft.preproc.registration import RegistrationSettings, register_file
    from neuropeft.settings import parse_settings

    register_file(args.moving, args.modality, parse_settings(RegistrationSettings, args.settings), args.out_prefix)
