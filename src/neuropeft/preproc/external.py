"""``neuropeft stack-table``: stack images prepared elsewhere (e.g. FA maps from another pipeline).

The table (TSV) has a ``target`` column (name configurable with ``--target``), optional
``participant_id`` (default: the first image's file name without extension), ``session``,
``split`` and ``site``, and either one ``path`` column or several ``path_<channel>`` columns
(``path_fa``, ``path_md``; channels in column order). Relative paths are read relative to the
table's folder. Each 3D image is resampled with nilearn (``resample_to_img``, world coordinates)
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
import pandas as pd

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image
from neuropeft.preproc.resample import (
    check_normalisations,
    check_voxel_mm,
    model_grid,
    normalise_channel,
    resample_to_grid,
)
from neuropeft.preproc.stack import build_index, read_table, write_stack

GRIDS = ("template", "native")
INTERPOLATIONS = ("continuous", "linear", "nearest")


def _default_shape() -> list[int]:
    return [96, 96, 96]


@dataclasses.dataclass
class ExternalSettings:
    """Settings of ``stack-table`` (config section ``external``)."""

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


def channel_columns(table: pd.DataFrame, source: Path) -> list[str]:
    """The image columns: ``path`` alone or the ``path_<channel>`` columns in order."""
    multi = [c for c in table.columns if c.startswith("path_")]
    if "path" in table.columns and multi:
        raise NeuropeftError(
            f"{source}: has both 'path' and {multi}; use one 'path' column or only path_<channel> columns"
        )
    columns = ["path"] if "path" in table.columns else multi
    if not columns:
        raise NeuropeftError(
            f"{source}: no image column; add a 'path' column or path_<channel> columns (e.g. path_fa, path_md)"
        )
    return columns


def resolve_paths(table: pd.DataFrame, columns: list[str], source: Path) -> list[list[Path]]:
    """Per row, the image paths of ``columns`` (relative to the table's folder), all checked to exist."""
    rows = []
    for number, record in enumerate(table.to_dict("records"), start=1):
        paths = []
        for column in columns:
            if not record[column]:
                raise NeuropeftError(f"{source}: row {number} has an empty {column}; give an image path")
            path = Path(record[column]) if Path(record[column]).is_absolute() else source.parent / record[column]
            if not path.is_file():
                raise NeuropeftError(
                    f"{source}: row {number} {column} file {record[column]} does not exist; fix the path (relative paths are read from the table's folder)"
                )
            paths.append(path)
        rows.append(paths)
    return rows


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
    """Validate the table, then resample and stack every row."""
    table = read_table(table_path, [target], "image table")
    columns = channel_columns(table, table_path)
    methods = settings.normalise or ["none"] * len(columns)
    if len(methods) != len(columns):
        raise NeuropeftError(
            f"{table_path}: {len(columns)} image column(s) {columns} but normalise has {len(methods)} entries; give one per column"
        )
    empty = table.index[table[target] == ""].tolist()
    if empty:
        raise NeuropeftError(
            f"{table_path}: row {empty[0] + 1} has an empty {target}; fill in the target or drop the row"
        )
    paths = resolve_paths(table, columns, table_path)
    if "participant_id" not in table.columns:
        table = table.assign(participant_id=[p[0].name.split(".")[0] for p in paths])
    loaders = [lambda p=row: prepare(p, settings, methods) for row in paths]
    write_stack(loaders, out_array, build_index(table, target), out_index)
