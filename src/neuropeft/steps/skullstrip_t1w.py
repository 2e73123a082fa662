"""brain mask of a whole-head T1w (deepbet, or template registration); write mask and brain"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--t1w IN --out-mask MASK --out-brain BRAIN [--settings JSON]``."""
    parser.add_argument("--t1w", required=True, type=Path, help="input T1w NIfTI (3D, preferably N4-corrected)")
    parser.add_argument(
        "--out-mask",
        required=True,
        type=Path,
        help="output: brain mask (uint8 0/1 NIfTI on the T1w grid, + .json sidecar)",
    )
    parser.add_argument(
        "--out-brain",
        required=True,
        type=Path,
        help="output: the T1w with voxels outside the mask set to 0 (float32, + .json)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute the mask and write the mask and the masked T1w with their sidecars."""
    from neuropeft.preproc.skullstrip import T1wSkullstripSettings, t1w_mask_file
    from neuropeft.settings import parse_settings

    t1w_mask_file(args.t1w, args.out_mask, args.out_brain, parse_settings(T1wSkullstripSettings, args.settings))
