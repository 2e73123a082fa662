"""The MNI152 2009a template shipped inside nilearn (nothing is downloaded).

nilearn resamples its 1 mm template on every call and importing ``nilearn.datasets`` costs about a
second; every preprocessing job needs the template, so each (image, resolution) is computed with
nilearn once and kept as a NIfTI file in a cache folder (``$NEUROPEFT_CACHE``, by default
``~/.cache/neuropeft``), from which later jobs read it with nibabel alone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.atomic import save_nifti
from neuropeft.paths import TEMPLATE_SPACE


def cache_dir() -> Path:
    """Where computed template images are kept."""
    return Path(os.environ.get("NEUROPEFT_CACHE", Path.home() / ".cache" / "neuropeft")) / "templates"


def _nilearn_version() -> str:
    from importlib.metadata import version

    return version("nilearn")


def _cached(name: str, voxel_mm: int, make: Callable[[], nib.Nifti1Image]) -> nib.Nifti1Image:
    """Load ``name`` at ``voxel_mm`` from the cache, computing and storing it on a miss."""
    path = cache_dir() / f"nilearn-{_nilearn_version()}" / f"tpl-{TEMPLATE_SPACE}_res-{voxel_mm}mm_{name}.nii.gz"
    if not path.exists():
        save_nifti(make(), path)
    img = nib.load(path)
    return nib.Nifti1Image(np.asarray(img.dataobj), img.affine)


def _t1w(voxel_mm: int) -> nib.Nifti1Image:
    from nilearn.datasets import load_mni152_template

    return _as(load_mni152_template(resolution=voxel_mm), np.float32)


def _brain_mask(voxel_mm: int) -> nib.Nifti1Image:
    from nilearn.datasets import load_mni152_brain_mask

    return _as(load_mni152_brain_mask(resolution=voxel_mm, threshold=0.2), np.uint8)


def _tissue(tissue: str, voxel_mm: int) -> nib.Nifti1Image:
    from nilearn.datasets import load_mni152_gm_template, load_mni152_wm_template

    loaders = {"gm": load_mni152_gm_template, "wm": load_mni152_wm_template}
    return _as(loaders[tissue](resolution=voxel_mm), np.float32)


@functools.lru_cache(maxsize=8)
def template_t1w(voxel_mm: int = 2) -> nib.Nifti1Image:
    """The MNI152 2009a T1 (skull-stripped) at ``voxel_mm`` isotropic voxels (whole millimetres, as nilearn resamples it)."""
    return _cached("T1w", voxel_mm, lambda: _t1w(voxel_mm))


@functools.lru_cache(maxsize=8)
def template_brain_mask(voxel_mm: int = 2) -> nib.Nifti1Image:
    """The template's brain mask on the same grid as :func:`template_t1w`."""
    return _cached("desc-brain_mask", voxel_mm, lambda: _brain_mask(voxel_mm))


@functools.lru_cache(maxsize=8)
def template_tissue(tissue: str, voxel_mm: int = 2) -> nib.Nifti1Image:
    """Grey- or white-matter probability map (``tissue`` is ``"gm"`` or ``"wm"``) on the template grid."""
    if tissue not in ("gm", "wm"):
        raise ValueError(f"tissue must be 'gm' or 'wm', not {tissue!r}")
    return _cached(f"label-{tissue.upper()}_probseg", voxel_mm, lambda: _tissue(tissue, voxel_mm))


def _as(img: nib.Nifti1Image, dtype: type) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=dtype), img.affine)
