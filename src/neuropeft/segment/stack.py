"""``neuropeft stack-labels``: per-subject model-grid label maps -> ``labels.npy`` (N, X, Y, Z) + ``classes.tsv``.

The label maps (``resample-labels`` outputs) are stacked as uint8 in the row order of the
model-input index (``model_input.tsv`` of ``stack-model-input``: row, participant_id, session, ...),
so ``labels[i]`` is the reference of ``model_input[i]``. Maps are matched to index rows through the
cohort table's stems (:mod:`neuropeft.segment.matching`): maps of subjects outside the index (QC
excluded, failed) are ignored, an index row without its map is refused. All maps must share one grid.
The array is written through ``np.lib.format.open_memmap`` under a temporary name, one subject at a
time, and renamed (memory: one map).

``classes.tsv`` (written last) has columns ``class`` (1..K-1) and ``name``: the grouping table's
class names (the same ``--groups`` as ``resample-labels``), or ``label-<k>`` without one, where K is
the table's class count (background included) or, without one, the largest class in the stack + 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from neuropeft.atomic import atomic_path, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import sidecar_path
from neuropeft.preproc.stack import read_table
from neuropeft.segment.labels import LabelGroups, load_labels, read_label_groups
from neuropeft.segment.matching import files_of, index_stems
from neuropeft.segment.warp import MAX_CLASS, class_names, same_grid


def check_rows(index: pd.DataFrame, index_path: Path) -> None:
    """Refuse an index whose ``row`` column (when present) is not 0..N-1 in order."""
    if "row" in index.columns and list(index["row"]) != [str(i) for i in range(len(index))]:
        raise NeuropeftError(
            f"{index_path}: its row column is not 0..{len(index) - 1} in order; pass the index written by stack-model-input"
        )


def check_sidecar_classes(path: Path, groups: LabelGroups, groups_path: Path) -> None:
    """Refuse a label map whose sidecar says it was grouped into other classes than ``groups``."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return
    try:
        recorded = json.loads(sidecar.read_text()).get("classes")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(recorded, list) and recorded != list(groups.classes):
        raise NeuropeftError(
            f"{path}: resampled into classes {recorded}, not those of {groups_path} {list(groups.classes)}; "
            "run resample-labels and stack-labels with the same --groups table"
        )


def stack_labels(
    labels: list[Path],
    index_path: Path,
    cohort_path: Path,
    out_array: Path,
    out_classes: Path,
    groups_path: Path | None = None,
) -> None:
    """Stack the index rows' label maps into ``out_array`` (uint8) and name the classes in ``out_classes``."""
    groups = read_label_groups(groups_path) if groups_path is not None else None
    index = read_table(index_path, ["participant_id", "session"], "model-input index")
    check_rows(index, index_path)
    stems, cohort_stems = index_stems(index, index_path, cohort_path)
    paths = files_of(stems, cohort_stems, labels, "label map", index_path, index)
    limit = groups.num_classes - 1 if groups is not None else MAX_CLASS
    first = load_labels(paths[0])
    shape, affine = first.shape, first.affine
    top = 0
    with atomic_path(out_array) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), *shape))
        for row, path in enumerate(paths):
            image = first if row == 0 else load_labels(path)
            if image.shape != shape or not same_grid((image.shape, image.affine), (shape, affine)):
                raise NeuropeftError(
                    f"{path}: label map of shape {image.shape} is not on the grid of {paths[0].name} (shape {shape}); "
                    "resample every subject's labels with the same settings"
                )
            data = np.asarray(image.dataobj)
            high = int(data.max(initial=0))
            if high > limit:
                where = f"the classes of {groups_path} (0..{limit})" if groups is not None else f"0..{MAX_CLASS}"
                raise NeuropeftError(
                    f"{path}: class {high} is outside {where}; resample the labels with the same --groups table"
                )
            if groups is not None and groups_path is not None:
                check_sidecar_classes(path, groups, groups_path)
            top = max(top, high)
            array[row] = data.astype(np.uint8)
            del image, data
        if groups is None and top == 0:
            raise NeuropeftError(f"{index_path}: every subject's label map is empty (all 0); check the label maps")
        array.flush()
        del array
    num_classes = groups.num_classes if groups is not None else top + 1
    names = class_names(groups, num_classes)
    write_tsv(pd.DataFrame({"class": range(1, num_classes), "name": names}), out_classes)
