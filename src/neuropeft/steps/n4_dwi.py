"""N4 bias field of the mean b=0, divided out of every DWI volume; write DWI and field"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dwi IN --bval BVAL --out OUT --field FIELD [--settings JSON]``."""
    parser.add_argument("--dwi", required=True, type=Path, help="input 4D DWI NIfTI")
    parser.add_argument("--bval", required=True, type=Path, help="the DWI's .bval file (one b-value per volume)")
    parser.add_argument(
        "--out", required=True, type=Path, help="output: bias-corrected 4D DWI (float32 NIfTI, + .json sidecar)"
    )
    parser.add_argument(
        "--field",
        required=True,
        type=Path,
        help="output: estimated 3D bias field, mean 1 over the voxels with signal (float32 NIfTI, + .json)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Correct the DWI and write both images with their sidecars."""
    from neuropeft.preproc.n4 import N4DwiSettings, correct_dwi_file
    from neuropeft.settings import parse_settings

    correct_dwi_file(args.dwi, args.bval, args.out, args.field, parse_settings(N4DwiSettings, args.settings))
