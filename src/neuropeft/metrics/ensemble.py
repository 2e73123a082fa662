"""``neuropeft ensemble``: average several models' predictions of the same subjects into one table.

Classification: the mean of each ``prob_<class>`` column, ``y_pred`` its arg-max (first class on a
tie, as in training) — or, for two classes whose models fitted decision thresholds on their own
validation subjects (``threshold`` in each model's run.json), the mean probability called at the
mean of those thresholds; regression: the mean ``y_pred``. Rows keep the first table's order and
``fold`` is ``ensemble``; every table must hold the same subjects with the same ``y_true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.calibration import call
from neuropeft.metrics.compute import PROB_PREFIX
from neuropeft.metrics.table import read_json

KEY = ["participant_id", "session"]


def read_predictions(path: Path) -> pd.DataFrame:
    """One predictions table, identifiers and labels as text, checked for its columns and duplicate rows."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise NeuropeftError(f"missing predictions file {path}; run the step that writes it first") from None
    missing = [c for c in [*KEY, "y_true", "y_pred"] if c not in frame.columns]
    if missing:
        raise NeuropeftError(f"{path}: missing column(s) {missing}; expected a predictions.tsv")
    duplicated = frame[frame.duplicated(KEY)]
    if not duplicated.empty:
        raise NeuropeftError(
            f"{path}: {duplicated['participant_id'].iloc[0]} session {duplicated['session'].iloc[0]!r} appears twice"
        )
    return frame


def _aligned(frames: list[pd.DataFrame], paths: list[Path]) -> list[pd.DataFrame]:
    """Every table indexed by subject in the first one's row order, refusing other subjects, classes or truths."""
    first = frames[0].set_index(KEY)
    probs = sorted(c for c in frames[0].columns if c.startswith(PROB_PREFIX))
    aligned = [first]
    for frame, path in zip(frames[1:], paths[1:], strict=False):
        if sorted(c for c in frame.columns if c.startswith(PROB_PREFIX)) != probs:
            raise NeuropeftError(
                f"{path}: its prob_<class> columns differ from those of {paths[0]}; ensemble models of one task"
            )
        table = frame.set_index(KEY)
        only = first.index.symmetric_difference(table.index)
        if len(only):
            raise NeuropeftError(
                f"{only[0][0]} session {only[0][1]!r} is in only one of {paths[0]} and {path}; "
                "ensemble predictions of the same subjects"
            )
        table = table.loc[first.index]
        clash = table.index[table["y_true"] != first["y_true"]]
        if len(clash):
            raise NeuropeftError(
                f"{path}: y_true of {clash[0][0]} differs from {paths[0]}; ensemble predictions of the same data"
            )
        aligned.append(table)
    return aligned


def ensemble_threshold(runs: list[dict[str, Any]]) -> float | None:
    """The mean of the models' fitted two-class thresholds; None (the arg-max) unless every model has one."""
    thresholds = [run.get("threshold") for run in runs]
    if not thresholds or any(t is None for t in thresholds):
        return None
    return float(np.mean(thresholds))


def ensemble(frames: list[pd.DataFrame], paths: list[Path], threshold: float | None = None) -> pd.DataFrame:
    """The averaged predictions table (fold = ``ensemble``); two classes are called at ``threshold``
    when given (see :func:`neuropeft.learn.calibration.call`)."""
    tables = _aligned(frames, paths)
    first = tables[0]
    out = first.index.to_frame(index=False)
    out["fold"] = "ensemble"
    out["y_true"] = first["y_true"].to_numpy()
    probs = [c for c in frames[0].columns if c.startswith(PROB_PREFIX)]
    columns = probs or ["y_pred"]
    try:
        mean = np.mean([t[columns].to_numpy(dtype=float) for t in tables], axis=0)
    except ValueError:
        raise NeuropeftError(
            f"non-numeric or empty values in {columns} of {[str(p) for p in paths]}; regenerate them"
        ) from None
    if probs:
        for k, column in enumerate(probs):
            out[column] = mean[:, k]
        out["y_pred"] = [probs[k][len(PROB_PREFIX) :] for k in call(mean, threshold)]
    else:
        out["y_pred"] = mean[:, 0]
    return out


def ensemble_files(paths: list[Path], out: Path, run_jsons: list[Path] | None = None) -> None:
    """Read the predictions tables (and the models' run.json files, for their thresholds), average
    them and write the ensemble's table."""
    frames = [read_predictions(path) for path in paths]
    runs = [read_json(path) for path in run_jsons or []]
    write_tsv(ensemble(frames, paths, ensemble_threshold(runs)), out)
