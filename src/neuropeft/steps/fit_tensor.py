"""fit the diffusion tensor (dipy) in native space; write FA, MD, AD, RD and colour FA"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument

#: each written map and its option (``--out-fa`` ...)
MAPS = {"FA": "fa", "MD": "md", "AD": "ad", "RD": "rd", "colorFA": "color_fa"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft fit-tensor``."""
    parser.add_argument("--dwi", required=True, type=Path, help="4D DWI NIfTI (bias-corrected)")
    parser.add_argument("--bval", required=True, type=Path, help="FSL-format b-values")
    parser.add_argument("--bvec", required=True, type=Path, help="FSL-format b-vectors")
    parser.add_argument("--mask", required=True, type=Path, help="brain mask on the DWI grid")
    for name, option in MAPS.items():
        parser.add_argument(
            f"--out-{option.replace('_', '-')}", required=True, type=Path, help=f"{name} map (.nii.gz, + .json)"
        )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Fit the tensor and write the maps with their sidecars."""
    from neuropeft.preproc.tensor import TensorSettings, run
    from neuropeft.settings import parse_settings

    outputs = {name: getattr(args, f"out_{option}") for name, option in MAPS.items()}
    run(args.dwi, args.bval, args.bvec, args.mask, outputs, parse_settings(TensorSettings, args.settings))
