"""``neuropeft qc-metrics``: the QC figures of one subject and modality, written as one JSON.

Everything is measured on the 2 mm template grid (``VOXEL_MM``, whatever the model grid), after the registration's
forward transforms (``--transforms``, the ``P_transforms.json`` of ``register``), so no reference
segmentation is needed:

* ``coverage``: the share of the template brain inside the image's field of view (the full grid
  of ``--mask``, warped to the template; a voxel counts when the warped box covers it entirely);
* ``dice_template``: Dice of the warped subject brain mask with the template brain mask inside
  the field of view (a partial field of view is not a registration error);
* ``registration_nmi``: the registration's normalised mutual information (from the JSON);
* ``brain_volume_ml``: the native brain mask's volume;
* DWI only (``--fa``, ``--md``): ``wm_mean_FA`` and ``wm_mean_MD`` (template white matter, WM
  probability > ``wm_threshold``) and ``brain_median_MD`` (template brain), each over voxels
  inside both the field of view and the warped subject brain mask: what lies outside the field
  of view is missing data, not zeros. MD is in the maps' units (mm^2/s). ``warnings`` repeats
  those of the FA map's sidecar (e.g. a fit of a shell above ``tensor.max_bval``).

A figure with no voxel to average over is ``null``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.atomic import write_json
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image, sidecar_path
from neuropeft.preproc.resample import read_transforms, warp
from neuropeft.preproc.template import template_brain_mask, template_tissue

#: resolution (whole mm) of the template grid the figures are measured on
VOXEL_MM = 2
#: share of a template voxel the warped field-of-view box must cover for the voxel to count as covered
FULLY_COVERED = 0.99


@dataclasses.dataclass
class QCMetricsSettings:
    """Settings of ``qc-metrics`` (from config section ``qc``)."""

    #: template white-matter probability above which a voxel counts as white matter
    wm_threshold: float = 0.5


def brain_volume_ml(img: nib.Nifti1Image) -> float:
    """Volume of the non-zero voxels of a mask, in ml."""
    return float((np.asarray(img.dataobj) > 0).sum() * np.prod(img.header.get_zooms()[:3]) / 1000.0)


def registration_nmi(path: Path) -> float:
    """``similarity.nmi`` from a ``register`` transforms JSON."""
    try:
        return float(json.loads(path.read_text())["similarity"]["nmi"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NeuropeftError(
            f"{path}: no similarity.nmi ({error!r}); pass the P_transforms.json written by `neuropeft register`"
        ) from None


def dice(a: np.ndarray, b: np.ndarray) -> float | None:
    """Dice overlap of two boolean arrays (None when both are empty)."""
    total = int(a.sum() + b.sum())
    return 2.0 * int((a & b).sum()) / total if total else None


def _summary(values: np.ndarray, median: bool = False) -> float | None:
    """Mean (or median) of ``values``; None when there is none."""
    if values.size == 0:
        return None
    return float(np.median(values) if median else values.mean())


def tensor_warnings(fa_path: Path) -> list[str]:
    """The ``warnings`` of the FA map's sidecar (none when it has no sidecar)."""
    path = sidecar_path(fa_path)
    if not path.is_file():
        return []
    try:
        return [str(w) for w in json.loads(path.read_text()).get("warnings", [])]
    except (ValueError, AttributeError) as error:
        raise NeuropeftError(f"{path}: unreadable sidecar ({error!r}); re-run fit-tensor") from None


def measure(
    mask_path: Path,
    transforms_json: Path,
    settings: QCMetricsSettings,
    fa_path: Path | None = None,
    md_path: Path | None = None,
) -> dict[str, Any]:
    """Every QC figure of one subject and modality (see the module docstring)."""
    mask = load_image(mask_path, "brain mask", ndim=3)
    transforms = read_transforms(transforms_json)
    grid = template_brain_mask(VOXEL_MM)
    brain = np.asarray(grid.dataobj) > 0
    box = nib.Nifti1Image(np.ones(mask.shape[:3], np.float32), mask.affine)
    covered = warp(box, grid, transforms, "linear") >= FULLY_COVERED
    subject = warp(mask, grid, transforms, "nearestNeighbor") > 0.5
    figures: dict[str, Any] = {
        "brain_volume_ml": brain_volume_ml(mask),
        "registration_nmi": registration_nmi(transforms_json),
        "dice_template": dice(subject, brain & covered),
        "coverage": float((brain & covered).sum() / brain.sum()),
    }
    if fa_path is not None and md_path is not None:
        inside = subject & covered
        wm = inside & (np.asarray(template_tissue("wm", VOXEL_MM).dataobj) > settings.wm_threshold)
        fa = warp(load_image(fa_path, "FA map", ndim=3), grid, transforms, "linear")
        md = warp(load_image(md_path, "MD map", ndim=3), grid, transforms, "linear")
        figures.update(
            {
                "wm_mean_FA": _summary(fa[wm]),
                "wm_mean_MD": _summary(md[wm]),
                "brain_median_MD": _summary(md[inside & brain], median=True),
                "warnings": tensor_warnings(fa_path),
            }
        )
    return figures


def run(
    subject: str,
    modality: str,
    mask: Path,
    transforms: Path,
    out: Path,
    settings: QCMetricsSettings,
    fa: Path | None = None,
    md: Path | None = None,
) -> None:
    """Measure one subject's QC figures and write them as JSON (stem, modality, figures)."""
    if modality == "dwi" and (fa is None or md is None):
        raise NeuropeftError(f"{subject}: --modality dwi needs --fa and --md (the fit-tensor maps)")
    figures = measure(mask, transforms, settings, fa, md)
    write_json(out, {"stem": subject, "modality": modality, **figures})
