"""Figures: ROC curves per fold with their mean, reliability diagram, predicted vs true, training curves,
data-size ablation.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, no global backend state) and
saved atomically, as PNG and SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_auc_score, roc_curve

from neuropeft.atomic import atomic_path
from neuropeft.metrics.compute import Classes, classification_metrics, label_text, regression_metrics

#: false-positive rates at which fold ROC curves are averaged
MEAN_FPR = np.linspace(0.0, 1.0, 101)


def save_figure(figure: Figure, paths: Sequence[Path]) -> None:
    """Atomically save ``figure`` to each path (format from the suffix; SVG without a date)."""
    for path in paths:
        fmt = Path(path).suffix.lstrip(".")
        metadata = {"Date": None} if fmt == "svg" else None
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)


def roc_figure(folds: Sequence[pd.DataFrame], classes: Classes, title: str) -> Figure:
    """ROC of each fold and their mean ± SD band; one panel per class (one-vs-rest) or the positive class."""
    targets = [classes.positive] if len(classes.labels) == 2 else list(classes.labels)
    figure = Figure(figsize=(5.0 * len(targets), 5.0))
    axes = figure.subplots(1, len(targets), squeeze=False)[0]
    for ax, target in zip(axes, targets, strict=False):
        curves, aucs = [], []
        for frame in folds:
            truth = frame["y_true"].map(label_text).to_numpy() == target
            if truth.all() or not truth.any():
                continue  # ROC undefined with one class only
            score = frame["prob_" + target].to_numpy(dtype=float)
            fpr, tpr, _ = roc_curve(truth, score)
            aucs.append(roc_auc_score(truth, score))
            fold = frame["fold"].iloc[0] if "fold" in frame.columns else len(curves)
            ax.plot(fpr, tpr, lw=1, alpha=0.4, label=f"fold {fold} (AUC = {aucs[-1]:.2f})")
            interpolated = np.interp(MEAN_FPR, fpr, tpr)
            interpolated[0] = 0.0
            curves.append(interpolated)
        if curves:
            mean = np.mean(curves, axis=0)
            mean[-1] = 1.0
            spread = np.std(curves, axis=0, ddof=1) if len(curves) > 1 else np.zeros_like(mean)
            ax.plot(
                MEAN_FPR,
                mean,
                color="black",
                lw=2,
                label=f"mean (AUC = {np.mean(aucs):.2f} ± {np.std(aucs, ddof=1) if len(aucs) > 1 else 0.0:.2f})",
            )
            ax.fill_between(
                MEAN_FPR,
                np.clip(mean - spread, 0, 1),
                np.clip(mean + spread, 0, 1),
                color="grey",
                alpha=0.2,
                label="± 1 SD",
            )
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.02),
            xlabel="false positive rate",
            ylabel="true positive rate",
            title=f"{title}: class {target}" if len(targets) > 1 else title,
        )
        ax.legend(loc="lower right", fontsize="small")
    return figure


def reliability_figure(oof: pd.DataFrame, classes: Classes, title: str, bins: int = 5) -> Figure:
    """Reliability diagram of the pooled out-of-fold probabilities: observed frequency against the mean
    predicted probability in quantile bins, one line per class (one-vs-rest; the positive class alone
    for two), with the Brier score and the diagonal of perfect calibration."""
    from sklearn.calibration import calibration_curve

    figure = Figure(figsize=(5.0, 5.0))
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    shown = classes.labels[1:] if len(classes.labels) == 2 else classes.labels
    truth = oof["y_true"].map(label_text)
    for label, column in zip(classes.labels, classes.prob_columns, strict=True):
        if label not in shown:
            continue
        observed, predicted = calibration_curve(
            truth == label, oof[column].astype(float), n_bins=bins, strategy="quantile"
        )
        ax.plot(predicted, observed, marker="o", label=f"class {label}")
    brier = classification_metrics(oof)["brier"]
    ax.set(xlabel="mean predicted probability", ylabel="observed frequency", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"{title}\nBrier {brier:.3f} (out-of-fold, {bins} quantile bins)")
    ax.legend(loc="upper left", fontsize="small")
    return figure


def pred_vs_true_figure(oof: pd.DataFrame, title: str) -> Figure:
    """Scatter of out-of-fold predictions against the truth, coloured by fold, with the identity line."""
    figure = Figure(figsize=(5.5, 5.0))
    ax = figure.subplots()
    for fold, frame in oof.groupby("fold", sort=True):
        ax.scatter(frame["y_true"], frame["y_pred"], s=14, alpha=0.7, label=f"fold {fold}")
    values = pd.concat([oof["y_true"], oof["y_pred"]]).astype(float)
    low, high = float(values.min()), float(values.max())
    ax.plot([low, high], [low, high], ls="--", color="grey", lw=1)
    scores = regression_metrics(oof)
    ax.set(
        xlabel="true",
        ylabel="predicted",
        title=f"{title}\nMAE {scores['mae']:.2f}, RMSE {scores['rmse']:.2f}, r {scores['pearson_r']:.2f}",
    )
    ax.legend(loc="upper left", fontsize="small")
    return figure


def curves_figure(histories: Sequence[tuple[object, pd.DataFrame]], title: str) -> Figure:
    """Training and validation loss, and the validation metric, per epoch for each fold."""
    figure = Figure(figsize=(11.0, 4.5))
    loss_ax, metric_ax = figure.subplots(1, 2)
    for index, (fold, history) in enumerate(histories):
        color = f"C{index % 10}"
        loss_ax.plot(history["epoch"], history["train_loss"], color=color, label=f"fold {fold} train")
        loss_ax.plot(history["epoch"], history["val_loss"], color=color, ls="--", label=f"fold {fold} val")
        metric_ax.plot(history["epoch"], history["val_metric"], color=color, label=f"fold {fold}")
    loss_ax.set(xlabel="epoch", ylabel="loss", title=f"{title}: loss (solid train, dashed val)")
    metric_ax.set(xlabel="epoch", ylabel="validation metric", title=f"{title}: validation metric")
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.legend(fontsize="x-small", ncol=2)
    metric_ax.legend(fontsize="x-small")
    return figure


def fractions_figure(points: pd.DataFrame, metric: str) -> Figure:
    """Metric (mean ± SD across folds) against the percentage of training data, one line per model.

    ``points`` has columns ``model``, ``train_fraction``, ``mean``, ``sd``.
    """
    figure = Figure(figsize=(6.5, 4.5))
    ax = figure.subplots()
    for model, frame in points.groupby("model", sort=True):
        frame = frame.sort_values("train_fraction")
        ax.errorbar(
            frame["train_fraction"] * 100.0,
            frame["mean"],
            yerr=frame["sd"].fillna(0.0),
            marker="o",
            capsize=3,
            label=str(model),
        )
    ax.set(xlabel="training data used (%)", ylabel=metric, title=f"{metric} vs training-set size")
    ax.legend(fontsize="small")
    return figure
