"""Label maps: read and checked, grouped into classes, moved onto the model grid and back.

Label maps move between grids with nearest-neighbour interpolation in world coordinates (nilearn's
``resample_to_img`` through :func:`neuropeft.preproc.resample.resample_to_grid`), so every output
voxel holds a label of the input (0 outside its field of view) and lines up with an image resampled
onto the same grid. A grouping table (TSV, columns ``label`` and ``class``) maps source labels to
classes numbered 1..K in order of first appearance; 0 is the background and every unlisted label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.resample import resample_to_grid

#: columns a grouping table must have
GROUP_COLUMNS = ("label", "class")
#: the columns of a BIDS look-up table (``dseg.tsv``), read as a grouping table of one label per class
BIDS_LUT_COLUMNS = ("index", "name")


def load_labels(path: str | Path) -> nib.Nifti1Image:
    """A 3D label map as int32, refusing unreadable files and non-integer or negative values."""
    path = Path(path)
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as error:
        raise NeuropeftError(f"{path}: cannot read the label map as NIfTI ({error})") from None
    if data.ndim != 3:
        raise NeuropeftError(f"{path}: the label map has {data.ndim} dimensions, expected 3")
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)) or data.min(initial=0) < 0:
        raise NeuropeftError(f"{path}: the label map holds non-integer or negative values; is it a dseg image?")
    return nib.Nifti1Image(data.astype(np.int32), img.affine)


def resample_labels(labels: nib.Nifti1Image, grid: nib.Nifti1Image) -> np.ndarray:
    """``labels`` on ``grid`` (int32), nearest neighbour in world coordinates; 0 outside its field of view."""
    return np.rint(resample_to_grid(labels, grid, "nearest")).astype(np.int32)


def to_native(labels: np.ndarray, grid: nib.Nifti1Image, native: nib.Nifti1Image) -> nib.Nifti1Image:
    """A label map on the model ``grid`` put back on the grid of the subject's ``native`` image
    (nearest neighbour), as uint8 (int32 beyond 255) with the native affine."""
    data = resample_labels(nib.Nifti1Image(np.asarray(labels, np.int32), grid.affine), native)
    return nib.Nifti1Image(data.astype(np.uint8 if data.max(initial=0) <= 255 else np.int32), native.affine)


@dataclass(frozen=True)
class LabelGroups:
    """Source labels grouped into classes: class k (1..K) is ``classes[k - 1]``; 0 is the background."""

    classes: tuple[str, ...]
    class_of: dict[int, int]  # source label -> class number

    @property
    def num_classes(self) -> int:
        """Number of model outputs: K classes plus the background."""
        return len(self.classes) + 1

    @classmethod
    def from_labels(cls, labels: Iterable[int]) -> LabelGroups:
        """One class per non-zero label, in increasing order, named by the label."""
        values = sorted({int(v) for v in labels} - {0})
        return cls(tuple(str(v) for v in values), {v: k for k, v in enumerate(values, start=1)})

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """The class map (int32) of a source label map; unlisted labels become 0."""
        out = np.zeros(np.shape(labels), np.int32)
        for label, number in self.class_of.items():
            out[labels == label] = number
        return out


def read_label_groups(path: str | Path) -> LabelGroups:
    """The grouping table at ``path`` (TSV with columns ``label`` and ``class``; several labels may
    share a class; or a BIDS look-up table ``dseg.tsv``, columns ``index`` and ``name``: one class per
    label), refused on one line naming the file when it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise NeuropeftError(f"label table {path} does not exist; fix the path in the config")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if set(BIDS_LUT_COLUMNS) <= set(table.columns) and not set(GROUP_COLUMNS) & set(table.columns):
        table = table.rename(columns=dict(zip(BIDS_LUT_COLUMNS, GROUP_COLUMNS, strict=True)))
    missing = [c for c in GROUP_COLUMNS if c not in table.columns]
    if missing:
        raise NeuropeftError(
            f"label table {path} lacks column(s) {missing}; it needs tab-separated columns label and class"
        )
    if table.empty:
        raise NeuropeftError(f"label table {path} has no rows; list one label and its class per line")
    classes: list[str] = []
    class_of: dict[int, int] = {}
    for line, (label, name) in enumerate(zip(table["label"], table["class"], strict=True), start=2):
        label, name = label.strip(), name.strip()
        if not (label.isascii() and label.isdigit()):
            raise NeuropeftError(f"label table {path} line {line}: label {label!r} is not a non-negative integer")
        if not name:
            raise NeuropeftError(f"label table {path} line {line}: label {label} has an empty class")
        if name not in classes:
            classes.append(name)
        number = classes.index(name) + 1
        if class_of.setdefault(int(label), number) != number:
            raise NeuropeftError(
                f"label table {path} line {line}: label {label} is already in class {classes[class_of[int(label)] - 1]!r}"
            )
    return LabelGroups(tuple(classes), class_of)
