"""register a T1w or b=0 brain to the MNI152 2009a template; write transforms and JSON"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--moving IMG --modality t1w|dwi --out-transforms P_transforms.json --out-registered R [--settings JSON]``."""
    parser.add_argument(
        "--moving",
        required=True,
        type=Path,
        help="3D brain image: skullstrip-t1w --out-brain or skullstrip-dwi --out-meanb0",
    )
    parser.add_argument("--modality", required=True, choices=["t1w", "dwi"], help="contrast of the moving image")
    parser.add_argument(
        "--out-transforms",
        required=True,
        type=Path,
        help="transforms JSON P_transforms.json (written last); the transform files P_fwd_*, P_inv_* go beside it",
    )
    parser.add_argument(
        "--out-registered", required=True, type=Path, help="the moving image on the template grid (+ .json sidecar)"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Register and write the transforms, the registered image and the transforms JSON (last)."""
    from neuropeft.preproc.registration import RegistrationSettings, register_file
    from neuropeft.settings import parse_settings

    settings = parse_settings(RegistrationSettings, args.settings)
    register_file(args.moving, args.modality, settings, args.out_transforms, args.out_registered)
