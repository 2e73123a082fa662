"""Fold directories written as the training step writes them (predictions.tsv, history.tsv, run.json)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd


def write_fold(directory: Path, predictions: pd.DataFrame, run: dict, epochs: int = 4) -> Path:
    """Write one fold directory; the history is a short synthetic decreasing loss."""
    directory.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(directory / "predictions.tsv", sep="\t", index=False)
    epoch = np.arange(1, epochs + 1)
    pd.DataFrame(
        {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.2 / epoch,
            "val_metric": 0.5 + 0.05 * epoch,
            "lr": 1e-3,
            "seconds": 2.0,
        }
    ).to_csv(directory / "history.tsv", sep="\t", index=False)
    (directory / "run.json").write_text(json.dumps(run))
    return directory


def classification_predictions(fold: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Binary predictions: an informative but imperfect score."""
    y_true = np.array([0, 1] * (n // 2))
    prob_1 = np.clip(0.5 + 0.3 * (y_true - 0.5) + rng.normal(0, 0.2, n), 0.01, 0.99)
    return pd.DataFrame(
        {
            "participant_id": [f"sub-{fold}{i:02d}" for i in range(n)],
            "session": "n/a",
            "fold": fold,
            "y_true": y_true,
            "prob_0": 1 - prob_1,
            "prob_1": prob_1,
            "y_pred": (prob_1 >= 0.5).astype(int),
        }
    )


def regression_predictions(fold: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Age-like regression predictions with noise."""
    y_true = rng.uniform(20, 80, n)
    return pd.DataFrame(
        {
            "participant_id": [f"sub-{fold}{i:02d}" for i in range(n)],
            "session": "n/a",
            "fold": fold,
            "y_true": y_true,
            "y_pred": y_true + rng.normal(0, 5, n),
        }
    )


def survival_predictions(fold: int, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Time-to-event predictions: the risk is the true log hazard plus noise."""
    log_hazard = rng.normal(0, 1, n)
    event_time = rng.exponential(1.0 / np.exp(log_hazard))
    follow_up = rng.uniform(0.5, 3.0, n)
    return pd.DataFrame(
        {
            "participant_id": [f"sub-{fold}{i:02d}" for i in range(n)],
            "session": "n/a",
            "fold": fold,
            "time": np.minimum(event_time, follow_up).round(3) + 0.001,
            "event": (event_time <= follow_up).astype(int),
            "risk": log_hazard + rng.normal(0, 0.5, n),
        }
    )


#: the predictions of each task
PREDICTIONS = {
    "classification": classification_predictions,
    "regression": regression_predictions,
    "survival": survival_predictions,
}


def run_record(experiment: str, fold: int, **extra) -> dict:
    """A run.json as the training step writes it."""
    record = {
        "experiment": experiment,
        "fold": fold,
        "backbone": "resnet50",
        "method": "lora",
        "head": "mlp",
        "task": "classification",
        "trainable_params": 1_640_000,
        "total_params": 185_000_000,
        "wall_seconds": 100.0 + 10 * fold,
        "peak_memory_mb": 1000.0 + fold,
        "device": "cpu",
        "seed": 0,
        "versions": {"torch": "2.13.0"},
    }
    record.update(extra)
    return record


def make_experiment_dirs(
    root: Path, experiment: str, task: str = "classification", n_folds: int = 3, n: int = 20, **run_extra
) -> list[Path]:
    """Write the fold directories ``root/models/<experiment>/fold-<k>`` of one experiment."""
    rng = np.random.default_rng(zlib.crc32(experiment.encode()))
    dirs = []
    for fold in range(n_folds):
        frame = PREDICTIONS[task](fold, n, rng)
        run = run_record(experiment, fold, task=task, **run_extra)
        dirs.append(write_fold(root / "models" / experiment / f"fold-{fold}", frame, run))
    return dirs
