"""fit the diffusion tensor (dipy) in native space; write FA, MD, AD, RD and colour FA"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft fit-tensor``."""
    parser.add_argument("--dwi", required=True, type=Path, help="4D DWI NIfTI (bias-corrected)")
    parser.add_argument("--bval", required=True, type=Path, help="FSL-format b-values")
    parser.add_argument("--bvec", required=True, type=Path, help="FSL-format b-vectors")
    parser.add_argument("--mask", required=True, type=Path, help="brain mask on the DWI grid")
    parser.add_argument("--out-prefix", required=True, help="outputs are PREFIX_{FA,MD,AD,RD,colorFA}.nii.gz (+ .json)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Fit the tensor and write the maps with their sidecars."""
    from neuropeft.preproc.tensor import TensorSettings, run
    from neuropeft.settings import parse_settings

    run(args.dwi, args.bval, args.bvec, args.mask, args.out_prefix, parse_settings(TensorSettings, args.settings))
