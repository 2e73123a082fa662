"""``neuropeft resample-labels``: a subject's native label map -> classes on the model grid, with ANTs.

The label map (e.g. DLMUSE's ``*_dseg.nii.gz``, on the grid of the subject's T1w) is grouped into
classes 0..K-1 with the optional grouping table (:func:`neuropeft.segment.labels.read_label_groups`;
without one its labels must already be class numbers, at most 255) and warped onto the model grid
(:func:`neuropeft.preproc.resample.model_grid`, the grid ``resample`` writes the T1w on) with the
T1w registration's forward transforms and ANTs' ``genericLabel`` interpolator, so the classes line
up with the model input. ``genericLabel`` interpolates each class's indicator linearly and keeps the
class of largest weight: every output voxel holds one of the input's classes (no blend of two
label numbers) and boundaries are smoother than nearest neighbour's. Grouping comes before the warp,
so the interpolation weighs whole classes (a class made of many small labels is not lost to a
larger neighbour) and costs one pass per class rather than per source label (about 150 for DLMUSE).

The label map must lie on the grid of the image the transforms were estimated from (the ``moving``
image named in the transforms JSON, when that file is found; axis order and direction may differ):
labels of another scan or space are refused on one line. The output is a uint8 NIfTI with the
grid's affine and a sidecar (inputs, class names, voxels per class before and after the warp).
:func:`warp_labels` is shared with ``segmentation-to-native``, which applies the inverse list.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.ants_import import load_ants
from neuropeft.preproc.imageio import from_ants, save_image, to_ants
from neuropeft.preproc.resample import check_voxel_mm, model_grid, read_transforms
from neuropeft.segment.labels import LabelGroups, load_labels, read_label_groups

STEP = "resample-labels"
#: ANTs interpolator for label maps: label-preserving, each class's indicator interpolated linearly
LABEL_INTERPOLATOR = "genericLabel"
#: largest class number a uint8 label map holds
MAX_CLASS = 255


def _default_shape() -> list[int]:
    return [96, 96, 96]


@dataclasses.dataclass
class LabelGridSettings:
    """The model grid of ``resample-labels`` and ``segmentation-to-native``: ``resample``'s
    ``voxel_mm`` and ``shape`` (pass the same values, so labels and images share one grid)."""

    #: isotropic voxel size of the model grid in mm (``resample.voxel_mm``)
    voxel_mm: float = 2
    #: model grid shape (X, Y, Z) (``resample.shape``)
    shape: list[int] = dataclasses.field(default_factory=_default_shape)

    def __post_init__(self) -> None:
        check_voxel_mm(self.voxel_mm)
        if len(self.shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.shape):
            raise NeuropeftError(f"label grid shape {self.shape} must be three positive integers, e.g. [96, 96, 96]")

    def grid(self) -> nib.Nifti1Image:
        """The model grid (:func:`neuropeft.preproc.resample.model_grid`)."""
        return model_grid(self.voxel_mm, self.shape)


def warp_labels(
    labels: np.ndarray,
    source: nib.Nifti1Image,
    target: nib.Nifti1Image,
    transforms: tuple[list[str], list[bool]],
) -> np.ndarray:
    """Class map ``labels`` (on ``source``'s grid) on ``target``'s grid (uint8) through ``transforms``
    (ANTs list and whichtoinvert, mapping target points to source points), ``genericLabel``."""
    ants = load_ants()

    moved = ants.apply_transforms(
        fixed=to_ants(target, np.zeros(target.shape[:3], np.float32)),
        moving=to_ants(source, np.asarray(labels, np.float32)),
        transformlist=transforms[0],
        whichtoinvert=transforms[1],
        interpolator=LABEL_INTERPOLATOR,
    )
    return np.rint(np.asarray(from_ants(moved).dataobj)).astype(np.uint8)


def grid_corners(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """The world positions (8, 3) of a grid's corner voxel centres."""
    ijk = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    return nib.affines.apply_affine(affine, ijk)


def same_grid(a: tuple[tuple[int, ...], np.ndarray], b: tuple[tuple[int, ...], np.ndarray], atol: float = 0.01) -> bool:
    """Whether two (shape, affine) grids hold the same voxels in world space, up to axis order and
    direction: as many voxels along the same edges, the same corners (within ``atol`` mm)."""
    (shape_a, affine_a), (shape_b, affine_b) = a, b
    if len(shape_a) < 3 or len(shape_b) < 3 or sorted(shape_a[:3]) != sorted(shape_b[:3]):
        return False
    corners_a, corners_b = grid_corners(shape_a[:3], affine_a), grid_corners(shape_b[:3], affine_b)
    distance = np.linalg.norm(corners_a[:, None, :] - corners_b[None, :, :], axis=-1)
    return bool(np.all(distance.min(axis=1) < atol) and np.all(distance.min(axis=0) < atol))


def check_on_moving_grid(labels: nib.Nifti1Image, labels_path: Path, transforms_json: Path) -> str:
    """Refuse a label map that is not on the grid of the registration's moving image (when that
    image is found); returns what was checked, for the sidecar."""
    from neuropeft.preproc.registration import load_transforms

    try:
        moving = load_transforms(transforms_json).get("moving")
    except (OSError, ValueError, KeyError, TypeError):
        return "skipped: the transforms JSON is unreadable"  # read_transforms has refused it already
    if not moving or not Path(moving).is_file():
        return f"skipped: the registered image {moving!r} is not found"
    try:
        image = nib.load(str(moving))
    except (OSError, ValueError, nib.filebasedimages.ImageFileError):
        return f"skipped: the registered image {moving} is unreadable"
    if not same_grid((labels.shape, labels.affine), (image.shape, image.affine)):
        raise NeuropeftError(
            f"{labels_path}: the label map (shape {labels.shape}, voxels {_voxel_sizes(labels.affine)} mm) is not on the grid of "
            f"{moving} (shape {image.shape[:3]}, voxels {_voxel_sizes(image.affine)} mm), the image registered by "
            f"{transforms_json}; pass the labels of that scan, on its grid"
        )
    return f"same grid as {moving}"


def _voxel_sizes(affine: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)]


def class_map(labels: nib.Nifti1Image, path: Path, groups: LabelGroups | None, groups_path: Path | None) -> np.ndarray:
    """The label map's classes 0..K-1 (int32): grouped by ``groups``, or the labels as they are (<= 255)."""
    data = np.asarray(labels.dataobj)
    if groups is not None:
        classes = groups.apply(data)
        if not classes.any():
            present = np.unique(data)[:8].tolist()
            raise NeuropeftError(
                f"{path}: no voxel holds a label listed in {groups_path} (labels here: {present}...); check the table's label column"
            )
        return classes
    top = int(data.max(initial=0))
    if top == 0:
        raise NeuropeftError(f"{path}: the label map is empty (all 0); pass the subject's segmentation")
    if top > MAX_CLASS:
        raise NeuropeftError(
            f"{path}: label {top} is not a class number (0..{MAX_CLASS}); pass --groups TABLE to group the labels into classes"
        )
    return data


def class_names(groups: LabelGroups | None, num_classes: int) -> list[str]:
    """Names of classes 1..K-1: the grouping table's, else ``label-<k>``."""
    if groups is not None:
        return list(groups.classes)
    return [f"label-{k}" for k in range(1, num_classes)]


def _counts(data: np.ndarray, num_classes: int) -> list[int]:
    return [int(c) for c in np.bincount(np.asarray(data).ravel(), minlength=num_classes)[1:num_classes]]


def resample_labels_file(
    labels_path: Path,
    transforms_json: Path,
    out: Path,
    groups_path: Path | None,
    settings: LabelGridSettings,
) -> None:
    """Group the native label map into classes and warp them onto the model grid; write ``out`` (uint8)."""
    groups = read_label_groups(groups_path) if groups_path is not None else None
    transforms = read_transforms(transforms_json)
    labels = load_labels(labels_path)
    grid_check = check_on_moving_grid(labels, labels_path, transforms_json)
    classes = class_map(labels, labels_path, groups, groups_path)
    num_classes = groups.num_classes if groups is not None else int(classes.max()) + 1
    grid = settings.grid()
    on_grid = warp_labels(classes, labels, grid, transforms)
    volume = nib.Nifti1Image(on_grid, grid.affine)
    volume.header.set_xyzt_units("mm", "sec")
    extra: dict[str, Any] = {
        "inputs": {
            "labels": str(labels_path),
            "transforms": str(transforms_json),
            "groups": str(groups_path) if groups_path else None,
        },
        "interpolator": LABEL_INTERPOLATOR,
        "grid_check": grid_check,
        "classes": class_names(groups, num_classes),
        "native_voxels": _counts(classes, num_classes),
        "grid_voxels": _counts(on_grid, num_classes),
    }
    save_image(volume, out, STEP, settings, extra)
