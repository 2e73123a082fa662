"""``neuropeft stack-table``: stack images prepared elsewhere (e.g. FA maps from another pipeline).

The table is an images table (:mod:`neuropeft.preproc.images_table`: ``path`` or
``path_<channel>`` columns, the target, optional ``participant_id``, ``session``, ``site``,
``split``), validated with every problem reported at once. Each 3D image is resampled with nilearn (``resample_to_img``, world coordinates)
onto one of two grids:

* ``grid = "template"``: the model grid of ``resample`` (template at ``voxel_mm``, cropped/padded
  to ``shape`` around the template brain's centre) — for images already in MNI space;
* ``grid = "native"``: an axis-aligned RAS grid at ``voxel_mm`` of size ``shape`` centred on the
  bounding box of the image's non-zero voxels — for skull-stripped images in any space.

Then each channel is normalised as in ``resample`` (zscore uses the non-zero voxels as the brain)
and the cohort is written like ``stack-model-input``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image
from neuropeft.preproc.images_table import read_images_table
from neuropeft.preproc.resample import (
    check_normalisations,
    check_voxel_mm,
    model_grid,
    normalise_channel,
    resample_to_grid,
)
from neuropeft.preproc.stack import build_index, write_stack

GRIDS = ("template", "native")
INTERPOLATIONS = ("continuous", "linear", "nearest")


def _default_shape() -> list[int]:
    return [96, 96, 96]


@dataclasses.dataclass
class ExternalSettings:
    """Settings of ``stack-table`` (config section ``images_table_options``; the rule adds the model grid's
    ``voxel_mm``, ``shape`` and ``md_scale``)."""

    #: target grid: template (images in MNI space) or native (any space; centred on the non-zero voxels)
    grid: str = "template"
    #: isotropic voxel size of the output grid in mm (as for resample)
    voxel_mm: float = 2
    #: output shape (X, Y, Z)
    shape: list[int] = dataclasses.field(default_factory=_default_shape)
    #: nilearn interpolation: continuous (3rd-order spline), linear or nearest
    interpolation: str = "continuous"
    #: per-channel normalisation in column order (fa, md, zscore, none); empty = none for every channel
    normalise: list[str] = dataclasses.field(default_factory=list)
    #: MD is divided by this (same units as the MD images, mm^2/s by default)
    md_scale: float = 3e-3

    def __post_init__(self) -> None:
        look_up_option(self.grid, GRIDS, "external grid")
        look_up_option(self.interpolation, INTERPOLATIONS, "external interpolation")
        if len(self.shape) != 3 or min(self.shape) < 1 or self.md_scale <= 0:
            raise NeuropeftError("external shape must be three positive integers and md_scale positive")
        check_voxel_mm(self.voxel_mm)
        check_normalisations(self.normalise)


def native_grid(img: nib.Nifti1Image, voxel_mm: float, shape: list[int]) -> nib.Nifti1Image:
    """An RAS grid of ``shape`` at ``voxel_mm`` centred on the world centre of ``img``'s non-zero voxels."""
    inside = np.argwhere(np.asarray(img.dataobj) != 0)
    if inside.size == 0:
        inside = np.argwhere(np.ones(img.shape[:3], bool))
    centre = nib.affines.apply_affine(img.affine, (inside.min(axis=0) + inside.max(axis=0)) / 2.0)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = centre - voxel_mm * (np.asarray(shape) - 1) / 2.0
    return nib.Nifti1Image(np.zeros(tuple(shape), np.uint8), affine)


def prepare(paths: list[Path], settings: ExternalSettings, methods: list[str]) -> np.ndarray:
    """One subject's channels resampled, normalised and stacked as (X, Y, Z, C) float32."""
    channels = []
    for path, method in zip(paths, methods, strict=False):
        img = load_image(path, "image", ndim=3)
        grid = (
            model_grid(settings.voxel_mm, settings.shape)
            if settings.grid == "template"
            else native_grid(img, settings.voxel_mm, settings.shape)
        )
        data = resample_to_grid(img, grid, settings.interpolation)
        channels.append(normalise_channel(data, method, data != 0, settings.md_scale).astype(np.float32))
    return np.stack(channels, axis=-1)


def run(table_path: Path, target: str, out_array: Path, out_index: Path, settings: ExternalSettings) -> None:
    """Validate the table (every problem at once), then resample and stack every row."""
    images = read_images_table(table_path, target)
    images.refuse_problems(table_path)
    methods = settings.normalise or ["none"] * len(images.image_columns)
    if len(methods) != len(images.image_columns):
        raise NeuropeftError(
            f"{table_path}: {len(images.image_columns)} image column(s) {images.image_columns} but normalise has "
            f"{len(methods)} entries; give one per column"
        )
    paths = [[Path(row[c]) for c in images.image_columns] for row in images.rows.to_dict("records")]
    loaders = [lambda p=row: prepare(p, settings, methods) for row in paths]
    write_stack(loaders, out_array, build_index(images.rows, "target"), out_index)
