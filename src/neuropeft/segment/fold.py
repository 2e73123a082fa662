"""``neuropeft train-segmentation``: one fold of a segmentation experiment, from the cohort stacks to
its outputs.

Reads the images (``model_input.npy``, (N, C, X, Y, Z)), the label maps (``labels.npy``, (N, X, Y, Z)
class numbers; ``classes.tsv`` names classes 1..K-1), the index and the folds table; trains on the
fold's training subjects with early stopping on its validation subjects' mean Dice, then writes:

* ``predictions.tsv``: one row per test subject and class: Dice and HD95 (mm) against the reference;
* ``predicted_labels.npy`` (uint8, the test subjects' label maps on the model grid) and
  ``predicted_index.tsv`` (their participant_id, session and index row, in the same order);
* the weights (adapters, or the whole network), ``history.tsv`` and ``run.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuropeft.atomic import atomic_path, write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.data import fold_tables
from neuropeft.learn.folds import check_folds, read_index
from neuropeft.learn.loop import CHECKPOINT, run_record
from neuropeft.learn.methods import count_parameters, save_weights
from neuropeft.segment.metrics import score_table
from neuropeft.segment.train import SegmentationSettings, predict_labels, train_fold

#: the fold's files the aggregation and the native-space writer read
PREDICTED_LABELS = "predicted_labels.npy"
PREDICTED_INDEX = "predicted_index.tsv"


def read_classes(path: Path) -> list[str]:
    """The class names of ``classes.tsv`` (classes 1..K-1 in order; the background is class 0)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(frame.columns[:2]) != ["class", "name"] or frame.empty:
        raise NeuropeftError(f"{path}: expected columns class and name with one row per class; rerun stack-labels")
    if frame["class"].tolist() != [str(k) for k in range(1, len(frame) + 1)]:
        raise NeuropeftError(f"{path}: classes must be numbered 1..{len(frame)} in order; rerun stack-labels")
    return frame["name"].tolist()


def _save_labels(labels: np.ndarray, path: Path) -> None:
    """Label maps as uint8 .npy, written under a temporary name and renamed."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, labels.astype(np.uint8))


def run_fold(
    array_path: Path,
    labels_path: Path,
    classes_path: Path,
    index_path: Path,
    folds_path: Path,
    fold: int,
    out_dir: Path,
    settings: SegmentationSettings,
    voxel_mm: float,
    device: torch.device,
) -> bool:
    """Train and evaluate one fold; False when ``max_epochs_this_run`` paused it (checkpoint kept)."""
    images = np.load(array_path, mmap_mode="r")
    labels = np.load(labels_path, mmap_mode="r")
    if images.ndim != 5 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise NeuropeftError(
            f"{array_path} {images.shape} and {labels_path} {labels.shape} do not match; rebuild both stacks"
        )
    names = read_classes(classes_path)
    folds = pd.read_csv(folds_path, sep="\t", dtype=str, keep_default_na=False)
    check_folds(folds)
    tables = fold_tables(read_index(index_path), folds, fold, images.shape[0])
    rows = {role: table["row"].to_numpy() for role, table in tables.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    result = train_fold(
        images, labels, rows["train"], rows["val"], len(names) + 1, settings, out_dir / CHECKPOINT, device
    )
    if result is None:
        return False
    test = tables["test"]
    predicted = predict_labels(result.model, images[rows["test"]], settings.batch_size, device)
    reference = np.asarray(labels[rows["test"]])
    scores = score_table(predicted, reference, names, (voxel_mm,) * 3, test["participant_id"].tolist())
    scores = scores.rename(columns={"subject": "participant_id"})
    scores.insert(1, "session", np.repeat(test["session"].to_numpy(), len(names)))
    scores.insert(0, "fold", fold)
    counts = count_parameters(result.model)
    save_weights(result.model, settings.method, out_dir)
    _save_labels(predicted, out_dir / PREDICTED_LABELS)
    write_tsv(test[["participant_id", "session", "row"]], out_dir / PREDICTED_INDEX)
    write_tsv(pd.DataFrame(result.history), out_dir / "history.tsv")
    write_json(
        out_dir / "run.json",
        {
            "experiment": settings.name,
            "fold": fold,
            "backbone": settings.backbone,
            "method": settings.method,
            "head": "decoder",
            "task": "segmentation",
            "classes": names,
            "trainable_params": counts.trainable,
            "total_params": counts.total,
            "base_params": counts.base,
            **run_record(device, result.wall_seconds),
            "seed": settings.seed,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "init": settings.init if settings.method != "scratch" else "random",
            "val_dice": [None if np.isnan(d) else float(d) for d in result.val_dice],
            **{f"n_{role}": len(table) for role, table in tables.items()},
            "input_shape": [int(images.shape[1]), *map(int, images.shape[2:])],
            "settings": dataclasses.asdict(settings),
        },
    )
    write_tsv(scores, out_dir / "predictions.tsv")
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
    return True
