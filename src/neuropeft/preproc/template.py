"""The MNI152 2009a template shipped inside nilearn (nothing is downloaded)."""

from __future__ import annotations

import functools

import nibabel as nib
import numpy as np


@functools.lru_cache(maxsize=8)
def template_t1w(voxel_mm: float = 2.0) -> nib.Nifti1Image:
    """The MNI152 2009a T1 (skull-stripped) resampled to ``voxel_mm`` isotropic voxels."""
    from nilearn.datasets import load_mni152_template

    return _as_float(load_mni152_template(resolution=voxel_mm))


@functools.lru_cache(maxsize=8)
def template_brain_mask(voxel_mm: float = 2.0) -> nib.Nifti1Image:
    """The template's brain mask on the same grid as :func:`template_t1w`."""
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=voxel_mm, threshold=0.2)
    return nib.Nifti1Image(np.asarray(mask.dataobj, dtype=np.uint8), mask.affine)


@functools.lru_cache(maxsize=8)
def template_tissue(tissue: str, voxel_mm: float = 2.0) -> nib.Nifti1Image:
    """Grey- or white-matter probability map (``tissue`` is ``"gm"`` or ``"wm"``) on the template grid."""
    from nilearn.datasets import load_mni152_gm_template, load_mni152_wm_template

    loaders = {"gm": load_mni152_gm_template, "wm": load_mni152_wm_template}
    return _as_float(loaders[tissue](resolution=voxel_mm))


def _as_float(img: nib.Nifti1Image) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)
