"""``neuropeft stack-model-input``: per-subject model-ready volumes -> ``model_input.npy`` (N, C, X, Y, Z) + index.

Volumes are matched to cohort rows by ``stem``: a volume belongs to the row with the longest
``stem`` its file name starts with, followed by ``_`` or ``.`` (``sub-001_ses-1_model.nii.gz``
matches stem ``sub-001_ses-1``). Every row needs exactly one volume and every volume a row; array rows follow
the cohort table's row order. The array is float32, written through ``np.lib.format.open_memmap``
one subject at a time under a temporary name and renamed, so memory stays at one volume; read it
with ``np.load(path, mmap_mode="r")``. Rows listed in ``--failures`` (failed a step) or
``--qc-excluded`` (flagged by the QC) are left out. The index has columns row, participant_id, session, target,
site (plus split when the input has one; empty sessions/sites become "n/a"), and with
``--optional-modalities`` a ``has_<modality>`` column (1/0) per optional modality: 0 when the row's
combined volume lists that modality as absent (its sidecar's ``absent``, written by combine-channels:
those channels are zeros).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from neuropeft.atomic import atomic_path, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image, sidecar_path

INDEX_COLUMNS = ["row", "participant_id", "session", "target", "site"]


def read_table(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a TSV as strings (empty cells -> ""), refusing a missing file or missing columns in one line."""
    if not path.is_file():
        raise NeuropeftError(f"{path}: the {what} does not exist; pass an existing TSV file")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise NeuropeftError(f"{path}: the {what} lacks column(s) {missing}; it has {list(table.columns)}")
    if table.empty:
        raise NeuropeftError(f"{path}: the {what} has no rows")
    return table


def failed_stems(path: Path, what: str) -> set[str]:
    """The stems listed in a failures table (``failure-table``, or ``qc-table --out-excluded``; may have no rows)."""
    if not path.is_file():
        raise NeuropeftError(f"{path}: the {what} does not exist; pass the one neuropeft writes")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "stem" not in frame.columns:
        raise NeuropeftError(f"{path}: the {what} lacks a stem column; it has {list(frame.columns)}")
    return set(frame["stem"])


def build_index(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """The index table (``INDEX_COLUMNS`` [+ split]) for ``table`` rows, in order."""
    index = pd.DataFrame(
        {
            "row": np.arange(len(table)),
            "participant_id": table["participant_id"].to_numpy(),
            "session": table.get("session", pd.Series([""] * len(table))).replace("", "n/a").to_numpy(),
            "target": table[target].to_numpy(),
            "site": table.get("site", pd.Series([""] * len(table))).replace("", "n/a").to_numpy(),
        }
    )[INDEX_COLUMNS]
    if "split" in table.columns:
        index["split"] = table["split"].to_numpy()
    return index


def write_stack(
    volumes: Sequence[Callable[[], np.ndarray]], out_array: Path, index: pd.DataFrame, out_index: Path
) -> None:
    """Write (N, C, X, Y, Z) float32 from ``volumes`` (callables giving (X, Y, Z, C) arrays) and the index.

    Each callable is loaded only when its row is written; all must share one shape.
    """
    first = volumes[0]()
    shape = first.shape
    with atomic_path(out_array) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(volumes), shape[3], *shape[:3]))
        for row, load in enumerate(volumes):
            data = first if row == 0 else load()
            if data.shape != shape:
                raise NeuropeftError(
                    f"row {row} ({index['participant_id'].iloc[row]}): volume shape {data.shape} differs from {shape}; resample all subjects with the same settings"
                )
            array[row] = np.moveaxis(data, -1, 0)
        array.flush()
        del array
    write_tsv(index, out_index)


def load_volume(path: Path) -> np.ndarray:
    """A model-ready volume as (X, Y, Z, C) float32 (a 3D image becomes one channel)."""
    data = np.asarray(load_image(path, "model-ready volume").dataobj, dtype=np.float32)
    return data[..., None] if data.ndim == 3 else data


def match_volumes(table: pd.DataFrame, volumes: Sequence[Path], cohort: Path) -> list[Path]:
    """The volume of each cohort row, refusing missing, duplicate and unmatched volumes.

    A volume belongs to the longest cohort ``stem`` its file name starts with (followed by ``_``
    or ``.``), so ``sub-001_ses-1_model.nii.gz`` goes to stem ``sub-001_ses-1``, not ``sub-001``.
    """
    stems = list(table["stem"])
    duplicated = sorted(set(table["stem"][table["stem"].duplicated()]))
    if duplicated:
        raise NeuropeftError(
            f"{cohort}: stem(s) {duplicated[:3]} appear more than once; each cohort row needs its own stem"
        )
    owners: dict[str, list[Path]] = {stem: [] for stem in stems}
    for volume in volumes:
        owner = owner_stem(volume, stems)
        if owner is None:
            raise NeuropeftError(
                f"{cohort}: volume {volume.name} matches no cohort row's stem; drop it or add the subject to the cohort"
            )
        owners[owner].append(volume)
    for stem, hits in owners.items():
        if len(hits) != 1:
            raise NeuropeftError(
                f"{cohort}: stem {stem} matches {len(hits)} volume(s) {[h.name for h in hits]}; pass exactly one volume per cohort row"
            )
        if not hits[0].is_file():
            raise NeuropeftError(f"{hits[0]}: model-ready volume does not exist; run the resample step first")
    return [owners[stem][0] for stem in stems]


def absent_modalities(volume: Path) -> list[str]:
    """The modalities a combined volume's sidecar lists as absent (zeros); refuses a volume without sidecar."""
    sidecar = sidecar_path(volume)
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise NeuropeftError(
            f"{sidecar}: cannot read the sidecar of {volume.name} ({type(error).__name__}); run combine-channels again"
        ) from None
    return list(record.get("absent", [])) if isinstance(record, dict) else []


def presence_columns(paths: Sequence[Path], optional: Sequence[str]) -> dict[str, list[int]]:
    """``has_<modality>`` (1/0) of each row's volume, per optional modality."""
    absent = [set(absent_modalities(path)) for path in paths] if optional else []
    return {f"has_{m}": [0 if m in row else 1 for row in absent] for m in optional}


def owner_stem(volume: Path, stems: Sequence[str]) -> str | None:
    """The longest of ``stems`` the volume's file name starts with, followed by ``_`` or ``.`` (None if none)."""
    candidates = [s for s in stems if volume.name.startswith(s) and volume.name[len(s) : len(s) + 1] in ("_", ".")]
    return max(candidates, key=len) if candidates else None


def run(
    volumes: list[Path],
    cohort: Path,
    target: str,
    out_array: Path,
    out_index: Path,
    failures: Path | None = None,
    qc_excluded: Path | None = None,
    optional: Sequence[str] = (),
) -> None:
    """Stack ``volumes`` in cohort order, leaving out the cohort rows listed in ``failures`` and ``qc_excluded``.

    Volumes of subjects the QC left out are passed by the workflow and ignored here. ``optional``:
    the optional modalities, each given a ``has_<modality>`` index column.
    """
    table = read_table(cohort, ["participant_id", "stem", target], "cohort table")
    left_out = failed_stems(failures, "failures table") if failures is not None else set()
    if qc_excluded is not None:
        excluded = failed_stems(qc_excluded, "QC exclusion table")
        volumes = [v for v in volumes if owner_stem(v, list(table["stem"])) not in excluded]
        left_out |= excluded
    if left_out:
        table = table[~table["stem"].isin(left_out)].reset_index(drop=True)
        if table.empty:
            raise NeuropeftError(
                f"{cohort}: every cohort row failed a step or the QC ({failures}, {qc_excluded}); nothing is left to stack"
            )
    paths = match_volumes(table, volumes, cohort)
    loaders = [lambda p=path: load_volume(p) for path in paths]
    index = build_index(table, target)
    for column, values in presence_columns(paths, optional).items():
        index[column] = values
    write_stack(loaders, out_array, index, out_index)
