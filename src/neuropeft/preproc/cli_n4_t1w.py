"""``neuropeft n4-t1w``: N4 bias-field correction of a T1w; writes the corrected image and the field."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.preproc.imageio import load_image, save_image
from neuropeft.preproc.n4 import N4Settings, correct_t1w
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--t1w IN --out OUT --field FIELD [--settings JSON]``."""
    parser.add_argument("--t1w", required=True, type=Path, help="input T1w NIfTI (3D)")
    parser.add_argument("--out", required=True, type=Path, help="output: bias-corrected T1w (float32 NIfTI, + .json sidecar)")
    parser.add_argument("--field", required=True, type=Path, help="output: estimated bias field, mean 1 over the voxels with signal (float32 NIfTI, + .json)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Correct the T1w and write both images with their sidecars."""
    settings = parse_settings(N4Settings, args.settings)
    img = load_image(args.t1w, "T1w", ndim=3)
    corrected, field = correct_t1w(img, settings, args.t1w)
    extra = {"inputs": {"t1w": str(args.t1w)}}
    save_image(field, args.field, "n4-t1w", settings, extra)
    save_image(corrected, args.out, "n4-t1w", settings, extra)
