"""``neuropeft aggregate-segmentation``: Dice and HD95 of one segmentation experiment across its folds.

Each fold's ``predictions.tsv`` holds one row per test subject and class. A fold's value of a metric
is its test subjects' mean (classes absent from both prediction and reference left out); the summary
gives, per class and averaged over the classes (``dice``, ``hd95``), the mean ± SD over folds and the
pooled mean over every tested subject with a seeded percentile-bootstrap CI over subjects — the
``summary.json`` layout the comparison table reads. Figures: Dice per class (one point per subject),
the training curves, and the prediction beside the reference for a few subjects (middle axial slice).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuropeft.atomic import write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.metrics import plots
from neuropeft.metrics.aggregate import json_number
from neuropeft.metrics.config import MetricsSettings, tool_versions
from neuropeft.segment.fold import PREDICTED_INDEX, PREDICTED_LABELS

#: the per-subject scores of a fold's predictions.tsv
SCORES = ("dice", "hd95")


def _mean(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The mean without NaNs (NaN, silently, where there is nothing else)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def subject_metrics(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per tested subject: fold, participant_id, session, ``<score>_<class>`` and the class means."""
    wide = scores.pivot_table(
        index=["fold", "participant_id", "session"], columns="class", values=list(SCORES), dropna=False, sort=False
    )
    classes = list(dict.fromkeys(scores["class"]))
    table = pd.DataFrame({f"{score}_{name}": wide[(score, name)] for score in SCORES for name in classes})
    for score in SCORES:
        table[score] = _mean(table[[f"{score}_{name}" for name in classes]].to_numpy(float), axis=1)
    return table.reset_index()


def _bootstrap(values: np.ndarray, settings: MetricsSettings) -> tuple[float, float]:
    """Percentile CI of the subjects' mean over ``settings.bootstrap`` resamples of the subjects."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(settings.seed)
    means = values[rng.integers(0, values.size, size=(settings.bootstrap, values.size))].mean(axis=1)
    tail = (1.0 - settings.ci_level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def summarise(
    experiment: str, subjects: pd.DataFrame, runs: list[dict], settings: MetricsSettings
) -> tuple[pd.DataFrame, dict]:
    """Per-fold means and the summary dictionary (``metrics``: mean, sd, pooled, ci_low, ci_high)."""
    names = [c for c in subjects.columns if c.split("_")[0] in SCORES]
    per_fold = subjects.groupby("fold")[names].agg(lambda column: _mean(column.to_numpy(float))).reset_index()
    per_fold.insert(1, "n", subjects.groupby("fold").size().to_numpy())
    metrics = {}
    for name in names:
        low, high = _bootstrap(subjects[name].to_numpy(float), settings)
        metrics[name] = {
            "mean": json_number(float(_mean(per_fold[name].to_numpy(float)))),
            "sd": json_number(float(per_fold[name].std(ddof=1))),
            "pooled": json_number(float(_mean(subjects[name].to_numpy(float)))),
            "ci_low": json_number(low),
            "ci_high": json_number(high),
        }
    summary = {
        "experiment": experiment,
        "task": "segmentation",
        "classes": runs[0]["classes"],
        **{field: runs[0].get(field) for field in ("backbone", "method", "head")},
        "train_fraction": None,
        "n_folds": len(runs),
        "n_predictions": len(subjects),
        "metrics": metrics,
        "settings": asdict(settings),
        "versions": tool_versions(),
    }
    return per_fold, summary


def _read_fold(fold_dir: Path) -> tuple[pd.DataFrame, dict]:
    """A fold's per-subject scores and run record."""
    try:
        scores = pd.read_csv(fold_dir / "predictions.tsv", sep="\t", dtype={"session": str}, keep_default_na=False)
        run = json.loads((fold_dir / "run.json").read_text())
    except FileNotFoundError as error:
        raise NeuropeftError(f"missing {error.filename}; run train-segmentation for that fold first") from None
    missing = {"fold", "participant_id", "session", "class", *SCORES} - set(scores.columns)
    if missing:
        raise NeuropeftError(f"{fold_dir / 'predictions.tsv'} lacks column(s) {sorted(missing)}; rerun its fold")
    scores[list(SCORES)] = scores[list(SCORES)].replace("", np.nan).astype(float)
    return scores, run


def dice_figure(subjects: pd.DataFrame, classes: list[str], experiment: str) -> Figure:
    """Dice per class: one point per tested subject, the mean as a bar."""
    figure = Figure(figsize=(1.2 + 1.1 * len(classes), 3.4), layout="constrained")
    axis = figure.subplots()
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        values = subjects[f"dice_{name}"].to_numpy(float)
        values = values[np.isfinite(values)]
        axis.bar(k, values.mean() if values.size else 0.0, color="0.85", width=0.7)
        axis.scatter(k + rng.uniform(-0.2, 0.2, values.size), values, s=10, color="C0")
    axis.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("Dice (test subjects)")
    axis.set_title(experiment)
    return figure


def qc_figure(
    images: np.ndarray, reference: np.ndarray, predicted: np.ndarray, names: list[str], experiment: str
) -> Figure:
    """Middle axial slice of each subject: image, reference labels, predicted labels."""
    figure = Figure(figsize=(6.6, 2.2 * len(names)), layout="constrained")
    axes = figure.subplots(len(names), 3, squeeze=False)
    top = max(int(reference.max()), int(predicted.max()), 1)
    z = images.shape[-1] // 2
    for row, name in enumerate(names):
        axes[row, 0].imshow(np.rot90(images[row, 0, ..., z]), cmap="gray", interpolation="nearest")
        for column, data in enumerate((reference[row], predicted[row]), start=1):
            axes[row, column].imshow(np.rot90(data[..., z]), cmap="tab10", vmin=0, vmax=top, interpolation="nearest")
        for column, title in enumerate((f"{name} image", "reference", "predicted")):
            axes[row, column].set_axis_off()
            axes[row, column].set_title(title, fontsize=8)
    figure.suptitle(experiment, fontsize=9)
    return figure


def _qc_subjects(fold_dirs: list[Path], array: Path, labels: Path, count: int) -> tuple[np.ndarray, ...] | None:
    """Images, references and predictions of the first ``count`` subjects tested in the first fold."""
    index = pd.read_csv(fold_dirs[0] / PREDICTED_INDEX, sep="\t", dtype=str, keep_default_na=False).head(count)
    if index.empty:
        return None
    rows = index["row"].astype(int).to_numpy()
    predicted = np.load(fold_dirs[0] / PREDICTED_LABELS, mmap_mode="r")[: len(rows)]
    images = np.load(array, mmap_mode="r")[rows]
    reference = np.load(labels, mmap_mode="r")[rows]
    return np.asarray(images), np.asarray(reference), np.asarray(predicted), index["participant_id"].to_numpy()


def aggregate_segmentation(
    experiment: str,
    fold_dirs: list[Path],
    array: Path,
    labels: Path,
    out_dir: Path,
    settings: MetricsSettings,
    qc_subjects: int = 3,
) -> dict:
    """Write the experiment's per-subject and per-fold metrics, its figures and ``summary.json``."""
    read = [_read_fold(fold_dir) for fold_dir in fold_dirs]
    subjects = subject_metrics(pd.concat([scores for scores, _ in read], ignore_index=True))
    runs = [run for _, run in read]
    per_fold, summary = summarise(experiment, subjects, runs, settings)
    write_tsv(subjects, out_dir / "subject_metrics.tsv")
    write_tsv(per_fold, out_dir / "fold_metrics.tsv")
    plots.save_figure(
        dice_figure(subjects, runs[0]["classes"], experiment), [out_dir / "dice.png", out_dir / "dice.svg"]
    )
    histories = [
        (run["fold"], pd.read_csv(d / "history.tsv", sep="\t")) for d, run in zip(fold_dirs, runs, strict=True)
    ]
    curves = plots.curves_figure(sorted(histories, key=lambda item: item[0]), experiment)
    plots.save_figure(curves, [out_dir / "curves.png", out_dir / "curves.svg"])
    shown = _qc_subjects(fold_dirs, array, labels, qc_subjects)
    if shown is not None:
        images, reference, predicted, names = shown
        plots.save_figure(qc_figure(images, reference, predicted, list(names), experiment), [out_dir / "qc.png"])
    write_json(out_dir / "summary.json", summary)
    return summary
