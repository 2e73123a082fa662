"""``neuropeft n4-dwi``: N4 field of the mean b=0, divided out of every DWI volume."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.preproc.imageio import load_bvals, load_image, save_image
from neuropeft.preproc.n4 import N4DwiSettings, correct_dwi
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dwi IN --bval BVAL --out OUT --field FIELD [--settings JSON]``."""
    parser.add_argument("--dwi", required=True, type=Path, help="input 4D DWI NIfTI")
    parser.add_argument("--bval", required=True, type=Path, help="the DWI's .bval file (one b-value per volume)")
    parser.add_argument("--out", required=True, type=Path, help="output: bias-corrected 4D DWI (float32 NIfTI, + .json sidecar)")
    parser.add_argument("--field", required=True, type=Path, help="output: estimated 3D bias field, mean 1 over the voxels with signal (float32 NIfTI, + .json)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Correct the DWI and write both images with their sidecars."""
    settings = parse_settings(N4DwiSettings, args.settings)
    img = load_image(args.dwi, "DWI", ndim=4)
    bvals = load_bvals(args.bval, img.shape[3])
    corrected, field = correct_dwi(img, bvals, settings, args.dwi)
    extra = {"inputs": {"dwi": str(args.dwi), "bval": str(args.bval)}}
    save_image(field, args.field, "n4-dwi", settings, extra)
    save_image(corrected, args.out, "n4-dwi", settings, extra)
