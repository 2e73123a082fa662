"""N4 bias-field correction of the T1w; write the corrected T1w and the field"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--t1w IN --out OUT --field FIELD [--settings JSON]``."""
    parser.add_argument("--t1w", required=True, type=Path, help="input T1w NIfTI (3D)")
    parser.add_argument(
        "--out", required=True, type=Path, help="output: bias-corrected T1w (float32 NIfTI, + .json sidecar)"
    )
    parser.add_argument(
        "--field",
        required=True,
        type=Path,
        help="output: estimated bias field, mean 1 over the voxels with signal (float32 NIfTI, + .json)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Correct the T1w and write both images with their sidecars."""
    from neuropeft.preproc.n4 import N4Settings, correct_t1w_file
    from neuropeft.settings import parse_settings

    correct_t1w_file(args.t1w, args.out, args.field, parse_settings(N4Settings, args.settings))
