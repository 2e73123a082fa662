"""The comparison by input modalities (``neuropeft modality-table``): per experiment, its headline metric
on each set of modalities (mean ± SD over folds; the others made absent), its trainable parameters and
how many test subjects lacked one of its modalities (predicted from the rest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuropeft.atomic import write_text, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.modalities import input_label, input_sets
from neuropeft.metrics.compute import compute_metrics, infer_task
from neuropeft.metrics.table import metric_title

#: task -> the metric the table shows
HEADLINE = {"classification": "auc", "regression": "mae", "survival": "c_index"}


def _read_fold(fold_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A fold's run.json and predictions_by_input.tsv."""
    try:
        run = json.loads((fold_dir / "run.json").read_text())
        frame = pd.read_csv(fold_dir / "predictions_by_input.tsv", sep="\t", keep_default_na=False, na_values=[""])
    except FileNotFoundError as error:
        raise NeuropeftError(f"{error.filename} is missing; run `neuropeft predict-inputs` for that fold") from None
    return run, frame


def _model_modalities(run: dict[str, Any]) -> list[str]:
    """The modalities a fold's model takes (its own, else the stack's)."""
    settings = run["settings"]
    return list(settings.get("modalities") or settings.get("stack_modalities") or [])


def modality_frame(fold_dirs: list[Path]) -> tuple[pd.DataFrame, str]:
    """One row per experiment (see the module docstring) and the metric shown."""
    folds: dict[str, list[tuple[dict[str, Any], pd.DataFrame]]] = {}
    for fold_dir in fold_dirs:
        run, frame = _read_fold(fold_dir)
        folds.setdefault(run["experiment"], []).append((run, frame))
    first = next(iter(folds.values()))[0][1]
    metric = HEADLINE[infer_task(first)]
    seen = {label for runs in folds.values() for _, frame in runs for label in frame["input"]}
    stack = next(iter(folds.values()))[0][0]["settings"].get("stack_modalities", [])
    inputs = [label for label in map(input_label, input_sets(stack)) if label in seen]
    rows = []
    for experiment, runs in folds.items():
        run = runs[0][0]
        takes = _model_modalities(run)
        source = (run["settings"].get("cross_modal") or {}).get("from", "")
        row: dict[str, Any] = {
            "experiment": experiment,
            "modalities": "+".join(takes),
            "method": f"{run['method']} on {source}" if source else run["method"],
            "trainable_params": int(round(np.mean([r["trainable_params"] for r, _ in runs]))),
        }
        for label in inputs:
            values = [
                compute_metrics(frame[frame["input"] == label])[metric]
                for _, frame in runs
                if (frame["input"] == label).any()
            ]
            row[f"{metric}_{label}"] = float(np.nanmean(values)) if values else np.nan
            row[f"{metric}_{label}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else np.nan
        lacking = 0
        for _, frame in runs:
            subjects = frame.drop_duplicates(["participant_id", "session"])
            lacking += int(sum(not set(takes) <= set(p.split("+")) for p in subjects["present"]))
        row["test_subjects_lacking_a_modality"] = lacking
        rows.append(row)
    return pd.DataFrame(rows), metric


def markdown(frame: pd.DataFrame, metric: str, decimals: int) -> str:
    """The table in Markdown: one metric column per input set, mean ± SD."""
    labels = [
        c.removeprefix(f"{metric}_") for c in frame.columns if c.startswith(f"{metric}_") and not c.endswith("_sd")
    ]
    title = metric_title(metric)
    header = ["Experiment", "Takes", "Method", "Trainable", *[f"{title}: {label}" for label in labels]]
    header.append("Test subjects lacking a modality")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        cells = [row["experiment"], row["modalities"], row["method"], f"{row['trainable_params']:,}"]
        for label in labels:
            mean, sd = row[f"{metric}_{label}"], row[f"{metric}_{label}_sd"]
            cells.append(
                "n/a" if pd.isna(mean) else f"{mean:.{decimals}f}" + ("" if pd.isna(sd) else f" ± {sd:.{decimals}f}")
            )
        cells.append(str(row["test_subjects_lacking_a_modality"]))
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"\n{title} over the folds' test subjects with the input's modalities, the model's other modalities "
        "absent (zeros, as a subject lacking them is stored); n/a: the model takes none of them. "
        "The last column counts the test subjects (all folds) predicted without one of the model's modalities.\n"
    )
    return "\n".join(lines) + "\n" + note


def write_modality_table(fold_dirs: list[Path], out_tsv: Path, out_md: Path, decimals: int = 3) -> None:
    """Write the modality comparison as TSV and Markdown."""
    frame, metric = modality_frame(fold_dirs)
    write_tsv(frame, out_tsv)
    write_text(out_md, markdown(frame, metric, decimals))
