"""``neuropeft register``: register a T1w brain or DWI mean b=0 brain to the MNI152 2009a template."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.preproc.imageio import load_image
from neuropeft.preproc.registration import RegistrationSettings, register_to_template
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--moving IMG --modality t1w|dwi --out-prefix P [--settings JSON]``."""
    parser.add_argument("--moving", required=True, type=Path, help="3D brain image: skullstrip-t1w --out-brain or skullstrip-dwi --out-meanb0")
    parser.add_argument("--modality", required=True, choices=["t1w", "dwi"], help="contrast of the moving image")
    parser.add_argument("--out-prefix", required=True, type=Path,
                        help="output prefix P: writes P_fwd_*.mat/.nii.gz, P_inv_*, P_space-MNI152NLin2009aSym_{T1w|b0}.nii.gz (+ .json) and P_transforms.json")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Register and write the transforms, the registered image and the transforms JSON (last)."""
    settings = parse_settings(RegistrationSettings, args.settings)
    settings.validate()
    img = load_image(args.moving, "moving image", ndim=3)
    register_to_template(img, args.modality, settings, args.out_prefix, str(args.moving))
