"""brain mask of the DWI by median_otsu on the mean b=0; write mask and mean b=0"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dwi IN --bval BVAL --out-mask MASK --out-meanb0 B0 [--settings JSON]``."""
    parser.add_argument("--dwi", required=True, type=Path, help="input 4D DWI NIfTI (preferably N4-corrected)")
    parser.add_argument("--bval", required=True, type=Path, help="the DWI's .bval file (one b-value per volume)")
    parser.add_argument(
        "--out-mask",
        required=True,
        type=Path,
        help="output: brain mask (uint8 0/1 NIfTI on the DWI grid, + .json sidecar)",
    )
    parser.add_argument(
        "--out-meanb0",
        required=True,
        type=Path,
        help="output: mean b=0 with voxels outside the mask set to 0 (float32, + .json)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute the mask and write the mask and the masked mean b=0 with their sidecars."""
    from neuropeft.preproc.skullstrip import DwiSkullstripSettings, dwi_mask_file
    from neuropeft.settings import parse_settings

    dwi_mask_file(
        args.dwi, args.bval, args.out_mask, args.out_meanb0, parse_settings(DwiSkullstripSettings, args.settings)
    )
