"""``neuropeft skullstrip-dwi``: brain mask of a DWI by dipy median_otsu on the mean b=0."""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.preproc.imageio import load_bvals, load_image, save_image
from neuropeft.preproc.skullstrip import DwiSkullstripSettings, dwi_brain_mask
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dwi IN --bval BVAL --out-mask MASK --out-meanb0 B0 [--settings JSON]``."""
    parser.add_argument("--dwi", required=True, type=Path, help="input 4D DWI NIfTI (preferably N4-corrected)")
    parser.add_argument("--bval", required=True, type=Path, help="the DWI's .bval file (one b-value per volume)")
    parser.add_argument("--out-mask", required=True, type=Path, help="output: brain mask (uint8 0/1 NIfTI on the DWI grid, + .json sidecar)")
    parser.add_argument("--out-meanb0", required=True, type=Path, help="output: mean b=0 with voxels outside the mask set to 0 (float32, + .json)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute the mask and write the mask and the masked mean b=0 with their sidecars."""
    settings = parse_settings(DwiSkullstripSettings, args.settings)
    img = load_image(args.dwi, "DWI", ndim=4)
    bvals = load_bvals(args.bval, img.shape[3])
    voxel_ml = float(np.prod(img.header.get_zooms()[:3])) / 1000.0
    mask, b0 = dwi_brain_mask(np.asarray(img.dataobj, dtype=np.float32), bvals, voxel_ml, settings, args.dwi)
    extra = {"inputs": {"dwi": str(args.dwi), "bval": str(args.bval)}, "brain_volume_ml": round(float(mask.sum()) * voxel_ml, 1)}
    save_image(nib.Nifti1Image(np.where(mask, b0, 0.0).astype(np.float32), img.affine), args.out_meanb0, "skullstrip-dwi", settings, extra)
    save_image(nib.Nifti1Image(mask.astype(np.uint8), img.affine), args.out_mask, "skullstrip-dwi", settings, extra)
