"""``neuropeft plot-fractions``: a metric against the fraction of training data used (data-size ablation).

Takes the ``summary.json`` of experiments whose run.json carried ``train_fraction`` (0 < f <= 1);
one line per model (backbone / method / head), mean ± SD across folds at each fraction.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.compute import CLASSIFICATION_METRICS, REGRESSION_METRICS, SURVIVAL_METRICS
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.plots import fractions_figure, save_figure
from neuropeft.metrics.table import read_json

DEFAULT_METRIC = {"classification": "auc", "regression": "mae", "survival": "c_index"}
#: ``metrics.fraction_metric``: "" (the task's :data:`DEFAULT_METRIC`) or a metric summary.json records
FRACTION_METRICS = ("", *CLASSIFICATION_METRICS, *REGRESSION_METRICS, *SURVIVAL_METRICS)


def fraction_points(summary_paths: list[Path], metric: str) -> tuple[pd.DataFrame, str]:
    """Columns model, train_fraction, experiment, mean, sd of ``metric`` ("" = the task's default)."""
    rows, tasks = [], set()
    for path in summary_paths:
        summary = read_json(path)
        if summary.get("train_fraction") is None:
            raise NeuropeftError(
                f"{path}: experiment {summary['experiment']} has no train_fraction; "
                "record it in the fold run.json files or leave it out of --summaries"
            )
        tasks.add(summary["task"])
        rows.append((path, summary))
    if len(tasks) != 1:
        raise NeuropeftError(f"--summaries mix tasks {sorted(tasks)}; plot one task at a time")
    metric = metric or DEFAULT_METRIC[tasks.pop()]
    points = []
    for path, summary in rows:
        look_up_option(metric, sorted(summary["metrics"]), f"{path}: metric", hint="set metrics.fraction_metric")
        values = summary["metrics"][metric]
        points.append(
            {
                "model": f"{summary.get('backbone')} / {summary.get('method')} / {summary.get('head')}",
                "train_fraction": float(summary["train_fraction"]),
                "experiment": summary["experiment"],
                "mean": values["mean"],
                "sd": values["sd"],
            }
        )
    frame = pd.DataFrame(points).astype({"mean": float, "sd": float})
    return frame.sort_values(["model", "train_fraction"], kind="stable").reset_index(drop=True), metric


def plot_fractions(
    summaries: list[Path], out_png: Path, out_svg: Path, out_tsv: Path, settings: MetricsSettings
) -> None:
    """Plot the metric against the training fraction; write the figure (PNG, SVG) and its points."""
    points, metric = fraction_points(summaries, settings.fraction_metric)
    figure = fractions_figure(points, metric)
    write_tsv(points, out_tsv)
    save_figure(figure, [out_png, out_svg])
