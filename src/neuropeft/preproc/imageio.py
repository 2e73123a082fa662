"""Image input/output for the preprocessing steps: checked loading, nibabel <-> ANTs, sidecars.

* :func:`load_image` reads a NIfTI and refuses NaN/Inf voxels (one-line :class:`NeuropeftError`).
* :func:`to_ants` / :func:`from_ants` convert 3D images between nibabel (RAS affine) and ANTs
  (LPS origin/spacing/direction) without touching the voxel order.
* :func:`write_sidecar` writes ``<image>.json`` (``sub-001_T1w.nii.gz`` -> ``sub-001_T1w.json``,
  BIDS style) with the step name, its settings and the tool versions; :func:`save_image` saves an
  image and its sidecar, both atomically.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.atomic import save_nifti, write_json
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.ants_import import load_ants
from neuropeft.provenance import package_versions

#: RAS <-> LPS flip of the first two world axes (its own inverse).
_LPS = np.diag([-1.0, -1.0, 1.0])

#: packages whose versions every sidecar records
VERSIONED_PACKAGES = ("neuropeft", "antspyx", "dipy", "nibabel", "numpy")


def load_image(
    path: str | os.PathLike[str], what: str = "image", ndim: int | tuple[int, ...] = (3, 4)
) -> nib.Nifti1Image:
    """Load a NIfTI as float32, refusing unreadable files, wrong dimensionality and NaN/Inf voxels."""
    path = Path(path)
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as error:
        raise NeuropeftError(
            f"{path}: cannot read the {what} as NIfTI ({error}); pass a valid .nii/.nii.gz file"
        ) from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if data.ndim not in allowed:
        raise NeuropeftError(
            f"{path}: the {what} has {data.ndim} dimensions, expected {' or '.join(map(str, allowed))}"
        )
    require_finite(data, path, what)
    return nib.Nifti1Image(data, img.affine, img.header)


def require_finite(data: np.ndarray, path: str | os.PathLike[str], what: str = "image") -> None:
    """Raise a one-line error naming ``path`` when ``data`` holds NaN or Inf voxels."""
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise NeuropeftError(
            f"{path}: the {what} has {bad} NaN/Inf voxel(s); replace them (e.g. with 0) or re-export the image"
        )


def require_not_constant(data: np.ndarray, path: str | os.PathLike[str], what: str = "image") -> None:
    """Raise a one-line error naming ``path`` when ``data`` is blank or constant."""
    if data.size == 0 or float(np.ptp(data)) == 0.0:
        raise NeuropeftError(
            f"{path}: the {what} is blank/constant (all voxels {float(data.flat[0]) if data.size else 'missing'}); check the input scan"
        )


def to_ants(img: nib.Nifti1Image, data: np.ndarray | None = None) -> Any:
    """The 3D nibabel image (or ``data`` on its grid) as a float32 ``ants.ANTsImage`` with the same world geometry."""
    ants = load_ants()

    array = np.asarray(img.dataobj if data is None else data, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"to_ants needs a 3D image, got shape {array.shape}")
    matrix = img.affine[:3, :3]
    spacing = np.linalg.norm(matrix, axis=0)
    direction = _LPS @ (matrix / spacing)
    origin = _LPS @ img.affine[:3, 3]
    return ants.from_numpy(array, origin=origin.tolist(), spacing=spacing.tolist(), direction=direction)


def from_ants(image: Any, dtype: type = np.float32) -> nib.Nifti1Image:
    """The 3D ``ants.ANTsImage`` as a nibabel image with a RAS affine."""
    affine = np.eye(4)
    affine[:3, :3] = _LPS @ np.asarray(image.direction) * np.asarray(image.spacing)
    affine[:3, 3] = _LPS @ np.asarray(image.origin)
    out = nib.Nifti1Image(image.numpy().astype(dtype), affine)
    out.header.set_xyzt_units("mm", "sec")
    return out


def ras_to_lps(points: np.ndarray) -> np.ndarray:
    """World points (N, 3) between RAS (nibabel) and LPS (ANTs/ITK); the map is its own inverse."""
    return np.asarray(points, dtype=float) @ _LPS


def sidecar_path(image_path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar beside an image: the NIfTI extension replaced by ``.json``."""
    path = Path(image_path)
    name = path.name
    for ext in (".nii.gz", ".nii", ".mat", ".json"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return path.with_name(name + ".json")


def tool_versions() -> dict[str, str]:
    """Installed versions of the packages in :data:`VERSIONED_PACKAGES` ("missing" when absent)."""
    return package_versions(*VERSIONED_PACKAGES)


def write_sidecar(
    image_path: str | os.PathLike[str], step: str, settings: Any, extra: Mapping[str, Any] | None = None
) -> Path:
    """Atomically write the provenance sidecar of ``image_path`` and return its path.

    The JSON holds ``step``, ``settings`` (a dataclass or mapping), ``versions``
    (:func:`tool_versions`) and the keys of ``extra`` at top level (e.g. inputs, QC figures).
    """
    record: dict[str, Any] = {
        "step": step,
        "settings": dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings),
        "versions": tool_versions(),
    }
    for key, value in (extra or {}).items():
        if key in record:
            raise ValueError(f"sidecar extra key {key!r} clashes with a reserved key")
        record[key] = value
    path = sidecar_path(image_path)
    write_json(path, record)
    return path


def save_image(
    img: nib.Nifti1Image,
    path: str | os.PathLike[str],
    step: str,
    settings: Any,
    extra: Mapping[str, Any] | None = None,
    compresslevel: int | None = None,
) -> None:
    """Atomically save ``img`` to ``path`` (gzip ``compresslevel``: see :func:`save_nifti`) and its sidecar (:func:`write_sidecar`)."""
    save_nifti(img, path, compresslevel)
    write_sidecar(path, step, settings, extra)


def load_bvals(path: str | os.PathLike[str], n_volumes: int) -> np.ndarray:
    """Read a BIDS ``.bval`` file and check it has one finite, non-negative value per DWI volume."""
    path = Path(path)
    try:
        bvals = np.loadtxt(path, dtype=float, ndmin=1).ravel()
    except (OSError, ValueError) as error:
        raise NeuropeftError(
            f"{path}: cannot read the b-values ({error}); pass a whitespace-separated .bval file"
        ) from None
    if bvals.size != n_volumes:
        raise NeuropeftError(f"{path}: {bvals.size} b-values for {n_volumes} DWI volumes; the .bval must match the DWI")
    if not np.all(np.isfinite(bvals)) or np.any(bvals < 0):
        raise NeuropeftError(f"{path}: b-values must be finite and non-negative; fix the .bval file")
    return bvals


def mean_b0(data: np.ndarray, bvals: np.ndarray, b0_threshold: float, path: str | os.PathLike[str]) -> np.ndarray:
    """Mean of the volumes with b <= ``b0_threshold`` of a 4D DWI array (error naming ``path`` if none)."""
    b0 = bvals <= b0_threshold
    if not np.any(b0):
        raise NeuropeftError(
            f"{path}: no b=0 volume (smallest b-value {bvals.min():g} > b0_threshold {b0_threshold:g}); raise b0_threshold"
        )
    return data[..., b0].mean(axis=-1, dtype=np.float64).astype(np.float32)
