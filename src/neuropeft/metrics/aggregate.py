"""``neuropeft aggregate-experiment``: metrics per fold and across folds of one experiment, and its plots.

Reads ``predictions.tsv``, ``history.tsv`` and ``run.json`` of every fold directory and writes to
``--out-dir``: ``fold_metrics.tsv`` (one row per fold), ``summary.json`` (per metric: mean and SD
across folds, pooled out-of-fold value with a seeded bootstrap CI), ``oof_predictions.tsv``,
``roc.png``/``roc.svg`` (classification), ``pred_vs_true.png``/``.svg`` (regression) or
``kaplan_meier.png``/``.svg`` (survival: :mod:`neuropeft.metrics.kaplan_meier`), and
``curves.png``/``.svg``. Every input is checked before anything is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from neuropeft.atomic import write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.metrics import plots
from neuropeft.metrics.bootstrap import bootstrap_ci
from neuropeft.metrics.compute import check_predictions, classes_of, compute_metrics, infer_task, metric_names
from neuropeft.metrics.config import MetricsSettings, tool_versions
from neuropeft.metrics.kaplan_meier import kaplan_meier_figure

FOLD_FILES = ("predictions.tsv", "history.tsv", "run.json")
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_metric")
#: run.json fields that must agree across the folds of one experiment
MODEL_FIELDS = ("backbone", "method", "head", "task")


@dataclass
class Fold:
    """The outputs of one trained fold."""

    fold: Any
    predictions: pd.DataFrame
    history: pd.DataFrame
    run: dict[str, Any]


def _read_tsv(path: Path) -> pd.DataFrame:
    """A TSV with identifiers kept as text ("n/a" stays literal; empty cells are missing)."""
    return pd.read_csv(
        path,
        sep="\t",
        dtype={"participant_id": str, "session": str},
        keep_default_na=False,
        na_values=["", "nan", "NaN", "NA"],
    )


def _load_fold(directory: Path) -> Fold:
    predictions = _read_tsv(directory / "predictions.tsv")
    check_predictions(predictions, str(directory / "predictions.tsv"))
    history = _read_tsv(directory / "history.tsv")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise NeuropeftError(f"{directory / 'history.tsv'}: missing column(s) {missing}")
    try:
        run = json.loads((directory / "run.json").read_text())
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"{directory / 'run.json'} is not valid JSON ({error}); rerun that fold") from None
    folds = predictions["fold"].unique() if "fold" in predictions.columns else [run.get("fold")]
    if len(folds) != 1:
        raise NeuropeftError(f"{directory / 'predictions.tsv'}: holds folds {list(folds)}; one fold per file")
    return Fold(folds[0].item() if hasattr(folds[0], "item") else folds[0], predictions, history, run)


def load_folds(experiment: str, fold_dirs: list[Path]) -> list[Fold]:
    """Load and cross-check every fold; a missing file is an error naming it."""
    if not fold_dirs:
        raise NeuropeftError(f"experiment {experiment}: no --fold-dirs given")
    for directory in fold_dirs:
        for name in FOLD_FILES:
            if not (directory / name).is_file():
                raise NeuropeftError(f"missing fold file {directory / name}; train that fold of {experiment} first")
    folds = [_load_fold(directory) for directory in fold_dirs]
    for directory, fold in zip(fold_dirs, folds, strict=False):
        if fold.run.get("experiment", experiment) != experiment:
            raise NeuropeftError(
                f"{directory / 'run.json'} belongs to experiment {fold.run['experiment']!r}, "
                f"not {experiment!r}; check --fold-dirs"
            )
    tasks = {infer_task(fold.predictions) for fold in folds}
    if len(tasks) != 1:
        raise NeuropeftError(f"experiment {experiment}: folds mix tasks {sorted(tasks)}; check --fold-dirs")
    if tasks == {"classification"}:
        labels = {classes_of(fold.predictions).labels for fold in folds}
        if len(labels) != 1:
            raise NeuropeftError(f"experiment {experiment}: folds have different classes {sorted(labels)}")
    ids = [fold.fold for fold in folds]
    if len(set(ids)) != len(ids):
        raise NeuropeftError(
            f"experiment {experiment}: fold ids {ids} repeat; each --fold-dirs entry must be a distinct fold"
        )
    for field in MODEL_FIELDS + ("train_fraction",):
        values = {json.dumps(fold.run.get(field)) for fold in folds}
        if len(values) != 1:
            raise NeuropeftError(
                f"experiment {experiment}: run.json field {field!r} differs across folds ({sorted(values)})"
            )
    return folds


def json_number(value: float) -> float | None:
    """``value`` as JSON-safe float (NaN becomes null)."""
    return None if value is None or math.isnan(value) else float(value)


def summarise(experiment: str, folds: list[Fold], settings: MetricsSettings) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-fold metrics table, pooled out-of-fold predictions and the summary dictionary."""
    oof = pd.concat([fold.predictions for fold in folds], ignore_index=True)
    sort_by = [c for c in ("fold", "participant_id", "session") if c in oof.columns]
    oof = oof.sort_values(sort_by, kind="stable").reset_index(drop=True)
    task = infer_task(oof)
    names = metric_names(task)
    per_fold = pd.DataFrame(
        [{"fold": fold.fold, "n": len(fold.predictions), **compute_metrics(fold.predictions)} for fold in folds]
    ).sort_values("fold", kind="stable")
    pooled = compute_metrics(oof)
    ci = bootstrap_ci(oof, settings.bootstrap, settings.seed, settings.ci_level)
    run = folds[0].run
    summary = {
        "experiment": experiment,
        "task": task,
        "classes": list(classes_of(oof).labels) if task == "classification" else None,
        **{field: run.get(field) for field in ("backbone", "method", "head", "train_fraction")},
        "n_folds": len(folds),
        "n_predictions": len(oof),
        "metrics": {
            name: {
                "mean": json_number(per_fold[name].mean()),
                "sd": json_number(per_fold[name].std(ddof=1)),
                "pooled": json_number(pooled[name]),
                "ci_low": json_number(ci[name][0]),
                "ci_high": json_number(ci[name][1]),
            }
            for name in names
        },
        "settings": asdict(settings),
        "versions": tool_versions(),
    }
    return per_fold, oof, summary


def aggregate_experiment(experiment: str, fold_dirs: list[Path], out_dir: Path, settings: MetricsSettings) -> dict:
    """Write the metrics, pooled predictions and plots of one experiment; return the summary."""
    folds = load_folds(experiment, fold_dirs)
    per_fold, oof, summary = summarise(experiment, folds, settings)
    if summary["task"] == "classification":
        figure = plots.roc_figure(
            [f.predictions for f in sorted(folds, key=lambda f: f.fold)], classes_of(oof), experiment
        )
        performance = [out_dir / "roc.png", out_dir / "roc.svg"]
        reliability = plots.reliability_figure(oof, classes_of(oof), experiment)
        plots.save_figure(reliability, [out_dir / "reliability.png", out_dir / "reliability.svg"])
    elif summary["task"] == "survival":
        figure = kaplan_meier_figure(oof, experiment)
        performance = [out_dir / "kaplan_meier.png", out_dir / "kaplan_meier.svg"]
    else:
        figure = plots.pred_vs_true_figure(oof, experiment)
        performance = [out_dir / "pred_vs_true.png", out_dir / "pred_vs_true.svg"]
    curves = plots.curves_figure(sorted(((f.fold, f.history) for f in folds), key=lambda item: item[0]), experiment)
    write_tsv(per_fold, out_dir / "fold_metrics.tsv")
    write_tsv(oof, out_dir / "oof_predictions.tsv")
    plots.save_figure(figure, performance)
    plots.save_figure(curves, [out_dir / "curves.png", out_dir / "curves.svg"])
    write_json(out_dir / "summary.json", summary)
    return summary
