"""``neuropeft compare-experiments``: one table row per experiment — metrics (mean ± SD), parameters, time, memory.

Inputs are the ``summary.json`` of each experiment (from ``aggregate-experiment``) and the
``run.json`` files of their folds (``--run-jsons`` or ``--runs-glob``; run.json files of experiments
without a summary are ignored). Writes a TSV (formatted and raw numeric columns) and a Markdown
table with the best value of each metric in bold.
"""

from __future__ import annotations

import glob
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from neuropeft.atomic import write_text, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.compute import CLASSIFICATION_METRICS, HIGHER_IS_BETTER, REGRESSION_METRICS, SURVIVAL_METRICS
from neuropeft.metrics.config import MetricsSettings

RUN_FIELDS = ("experiment", "trainable_params", "total_params", "wall_seconds", "peak_memory_mb")
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced acc.",
    "auc": "AUC",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "f1": "F1",
    "brier": "Brier",
    "mae": "MAE",
    "rmse": "RMSE",
    "pearson_r": "Pearson r",
    "r2": "R²",
    "c_index": "C-index",
}
#: a segmentation's scores (per class ``<score>_<class>``, and the class mean ``<score>``): title, higher is better
SEGMENTATION_SCORES = {"dice": ("Dice", True), "hd95": ("HD95 (mm)", False)}


def _score(metric: str) -> str:
    """The segmentation score a metric name belongs to ("" for another metric)."""
    score = metric.split("_", 1)[0]
    return score if score in SEGMENTATION_SCORES and metric not in METRIC_TITLES else ""


def metric_title(metric: str) -> str:
    """A metric's column title (``dice_WM`` -> ``Dice WM``)."""
    score = _score(metric)
    if not score:
        return METRIC_TITLES[metric]
    title = SEGMENTATION_SCORES[score][0]
    if metric == score:
        return title
    return (
        title.replace(" (mm)", f" {metric.split('_', 1)[1]} (mm)")
        if score == "hd95"
        else f"{title} {metric.split('_', 1)[1]}"
    )


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of the metric is better."""
    score = _score(metric)
    return SEGMENTATION_SCORES[score][1] if score else HIGHER_IS_BETTER[metric]


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; missing or invalid files are errors naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise NeuropeftError(f"missing file {path}; run the step that writes it first") from None
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"{path} is not valid JSON ({error}); rerun the step that writes it") from None


def _runs_by_experiment(run_paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for path in run_paths:
        run = read_json(path)
        missing = [field for field in RUN_FIELDS if field not in run]
        if missing:
            raise NeuropeftError(f"{path}: missing field(s) {missing}")
        runs.setdefault(str(run["experiment"]), []).append(run)
    return runs


def _format(mean: float | None, sd: float | None, decimals: int) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}" if sd is not None else f"{mean:.{decimals}f}"


def _format_split(values: dict[str, Any], decimals: int) -> str:
    """One fixed split's metric on its test subjects with the bootstrap CI: ``0.812 [0.650, 0.940]``."""
    if values.get("pooled") is None:
        return "n/a"
    low, high = values.get("ci_low"), values.get("ci_high")
    interval = f" [{low:.{decimals}f}, {high:.{decimals}f}]" if low is not None and high is not None else ""
    return f"{values['pooled']:.{decimals}f}{interval}"


def percent_text(value: float) -> str:
    """A percentage with two significant digits below 10 % (as in the seeds' tables: 32%, 1.3%, 0.04%)."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"


def comparison_frame(summary_paths: list[Path], run_paths: list[Path], settings: MetricsSettings) -> pd.DataFrame:
    """One row per experiment: identity, metrics (formatted + raw), parameters, time and memory."""
    runs = _runs_by_experiment(run_paths)
    summaries = [read_json(path) for path in summary_paths]
    names = [summary["experiment"] for summary in summaries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise NeuropeftError(f"--summaries repeat experiment(s) {repeated}; pass each summary.json once")
    present = [
        m
        for m in CLASSIFICATION_METRICS + REGRESSION_METRICS + SURVIVAL_METRICS
        if any(m in s["metrics"] for s in summaries)
    ]
    present += list(dict.fromkeys(m for s in summaries for m in s["metrics"] if _score(m)))
    rows = []
    for path, summary in zip(summary_paths, summaries, strict=False):
        experiment = summary["experiment"]
        fold_runs = runs.get(experiment)
        if not fold_runs:
            raise NeuropeftError(
                f"no run.json for experiment {experiment} ({path}); pass results/models/{experiment}/fold-*/run.json"
            )
        if len(fold_runs) != summary["n_folds"]:
            raise NeuropeftError(
                f"experiment {experiment}: {len(fold_runs)} run.json files for "
                f"{summary['n_folds']} folds in {path}; pass one run.json per fold"
            )
        trainable = sum(r["trainable_params"] for r in fold_runs) / len(fold_runs)
        total = sum(r["total_params"] for r in fold_runs) / len(fold_runs)
        row: dict[str, Any] = {
            "experiment": experiment,
            **{field: summary.get(field) for field in ("backbone", "method", "head", "task", "train_fraction")},
            "n_folds": summary["n_folds"],
        }
        for metric in present:
            values = summary["metrics"].get(metric, {})
            row[metric] = (
                _format_split(values, settings.decimals)
                if summary["n_folds"] == 1
                else _format(values.get("mean"), values.get("sd"), settings.decimals)
            )
            for key in ("mean", "sd", "pooled", "ci_low", "ci_high"):
                row[f"{metric}_{key}"] = values.get(key)
        row.update(
            {
                "trainable_params": int(round(trainable)),
                "total_params": int(round(total)),
                "trainable_percent": trainable / total * 100.0 if total else math.nan,
                "train_seconds_mean": sum(r["wall_seconds"] for r in fold_runs) / len(fold_runs),
                "peak_memory_mb": max(r["peak_memory_mb"] for r in fold_runs),
                **_federation(fold_runs),
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame["train_fraction"].isna().all():
        frame = frame.drop(columns="train_fraction")
    if frame["strategy"].isna().all():
        frame = frame.drop(columns=["strategy", "bytes_per_round", "bytes_total"])
    return frame


def _federation(fold_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A federated experiment's strategy and bytes sent per round and in total (fold means); None for
    a centralized one (nothing travels)."""
    if "federated" not in fold_runs[0]:
        return {"strategy": None, "bytes_per_round": None, "bytes_total": None}
    return {
        "strategy": fold_runs[0]["federated"]["strategy"],
        "bytes_per_round": sum(r["bytes_per_round"] for r in fold_runs) / len(fold_runs),
        "bytes_total": sum(r["bytes_total"] for r in fold_runs) / len(fold_runs),
    }


def _megabytes(value: Any) -> str:
    """Bytes as MB with three significant digits; "centralized" when nothing travelled."""
    return "centralized" if value is None or pd.isna(value) else f"{value / 1e6:.3g}"


def markdown_table(frame: pd.DataFrame) -> str:
    """The comparison as a Markdown pipe table; the best mean of each metric is bold."""
    metrics = [c for c in frame.columns if f"{c}_mean" in frame.columns]  # in the order comparison_frame put them
    header = ["Experiment", "Backbone", "Method", "Head"] + (["Train %"] if "train_fraction" in frame else [])
    header += [metric_title(m) for m in metrics] + [
        "Trainable params (% of full)",
        "Time/fold (s)",
        "Peak memory (MB)",
    ]
    federated = "strategy" in frame
    if federated:
        header += ["Strategy", "MB/round", "MB total"]
    best = {}
    for metric in metrics:
        means = frame[f"{metric}_mean"].astype(float)
        if means.notna().any():
            best[metric] = means.max() if higher_is_better(metric) else means.min()
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 4 + ["---:"] * (len(header) - 4)) + "|"]
    for _, row in frame.iterrows():
        cells = [str(row["experiment"]), str(row["backbone"]), str(row["method"]), str(row["head"])]
        if "train_fraction" in frame:
            cells.append("" if pd.isna(row["train_fraction"]) else f"{row['train_fraction'] * 100:g}")
        for metric in metrics:
            text = row[metric] if isinstance(row[metric], str) else "n/a"
            cells.append(f"**{text}**" if metric in best and row[f"{metric}_mean"] == best[metric] else text)
        cells += [
            f"{row['trainable_params']:,} ({percent_text(row['trainable_percent'])})",
            f"{row['train_seconds_mean']:.1f}",
            f"{row['peak_memory_mb']:.0f}",
        ]
        if federated:
            cells += [row["strategy"] or "", _megabytes(row["bytes_per_round"]), _megabytes(row["bytes_total"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _reading(frame: pd.DataFrame, settings: MetricsSettings) -> str:
    """How to read the metric cells: mean ± SD over folds, or one fixed split's test value [bootstrap CI]."""
    if (frame["n_folds"] == 1).all():
        return f"\nOne fixed split: each metric on its test subjects [{settings.ci_level:.0%} bootstrap CI].\n"
    return "\nEach metric: mean ± SD over the folds' test subjects.\n"


def left_out_section(excluded: Path | None, failures: Path | None, qc_excluded: Path | None = None) -> str:
    """Markdown listing the subjects left out of training: failed validation, a processing step or the QC.

    Empty when no table is given.
    """
    if excluded is None and failures is None and qc_excluded is None:
        return ""
    rows = []
    for path, stage in ((excluded, None), (failures, "step"), (qc_excluded, "qc")):
        if path is None:
            continue
        try:
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError) as error:
            raise NeuropeftError(f"{path}: cannot be read as a TSV ({error}); rerun the step that writes it") from None
        missing = [
            c for c in ("participant_id", "session", "reason") + (("step",) if stage else ()) if c not in table.columns
        ]
        if missing:
            raise NeuropeftError(f"{path}: lacks column(s) {missing}; pass the table neuropeft writes")
        for _, row in table.iterrows():
            where = {None: "validation", "step": f"step {row.get('step')}", "qc": "QC limits"}[stage]
            rows.append(f"| {row['participant_id']} | {row['session']} | {where} | {' '.join(row['reason'].split())} |")
    if not rows:
        return "\nNo subject was left out.\n"
    header = (
        f"\n## Subjects left out ({len(rows)})\n\n| Participant | Session | Failed at | Reason |\n|---|---|---|---|\n"
    )
    return header + "\n".join(rows) + "\n"


def resolve_runs(run_jsons: list[Path] | None, runs_glob: str | None) -> list[Path]:
    """The run.json paths from an explicit list or a glob pattern (``**`` allowed)."""
    if run_jsons is not None:
        return list(run_jsons)
    paths = sorted(Path(p) for p in glob.glob(runs_glob, recursive=True))
    if not paths:
        raise NeuropeftError(f"--runs-glob {runs_glob!r} matches no file; e.g. 'results/models/*/fold-*/run.json'")
    return paths


def compare_experiments(
    summaries: list[Path],
    run_jsons: list[Path] | None,
    runs_glob: str | None,
    out_tsv: Path,
    out_md: Path,
    settings: MetricsSettings,
    excluded: Path | None = None,
    failures: Path | None = None,
    qc_excluded: Path | None = None,
) -> None:
    """Write the comparison table (TSV and Markdown, with the left-out subjects) of the experiments."""
    frame = comparison_frame(summaries, resolve_runs(run_jsons, runs_glob), settings)
    markdown = markdown_table(frame) + _reading(frame, settings) + left_out_section(excluded, failures, qc_excluded)
    write_tsv(frame, out_tsv)
    write_text(out_md, markdown)
