"""``neuropeft skullstrip-t1w``: brain mask of a whole-head T1w by template registration."""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.preproc.imageio import load_image, save_image
from neuropeft.preproc.skullstrip import T1wSkullstripSettings, t1w_brain_mask
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--t1w IN --out-mask MASK --out-brain BRAIN [--settings JSON]``."""
    parser.add_argument("--t1w", required=True, type=Path, help="input T1w NIfTI (3D, preferably N4-corrected)")
    parser.add_argument("--out-mask", required=True, type=Path, help="output: brain mask (uint8 0/1 NIfTI on the T1w grid, + .json sidecar)")
    parser.add_argument("--out-brain", required=True, type=Path, help="output: the T1w with voxels outside the mask set to 0 (float32, + .json)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute the mask and write the mask and the masked T1w with their sidecars."""
    settings = parse_settings(T1wSkullstripSettings, args.settings)
    img = load_image(args.t1w, "T1w", ndim=3)
    mask = t1w_brain_mask(img, settings, args.t1w)
    volume_ml = float(mask.sum() * np.prod(img.header.get_zooms()[:3]) / 1000.0)
    extra = {"inputs": {"t1w": str(args.t1w)}, "brain_volume_ml": round(volume_ml, 1)}
    brain = np.where(mask, np.asarray(img.dataobj, dtype=np.float32), 0.0).astype(np.float32)
    save_image(nib.Nifti1Image(brain, img.affine), args.out_brain, "skullstrip-t1w", settings, extra)
    save_image(nib.Nifti1Image(mask.astype(np.uint8), img.affine), args.out_mask, "skullstrip-t1w", settings, extra)
