"""Fine-tuning of one experiment on one fold: its data, model and optimiser run by the shared loop
(learn/loop.py), then the fold's outputs (weights, history.tsv, run.json, predictions.tsv).

A frozen backbone (``linear_probe``) with ``cache_features`` gives each volume's features once (and
those of the flipped volume under ``augment_flip``); the head then trains on them, in the same
batches, with the same flips, as it would through the backbone.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neuropeft.atomic import write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.calibration import fit_prediction_bias, validation_threshold
from neuropeft.learn.covariates import CovariateEncoder, read_covariates
from neuropeft.learn.data import Augment, FeatureDataset, VolumeDataset, fold_tables
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import make_model, predict, predictions_frame, to_device, uses_channels_last
from neuropeft.learn.folds import check_folds, read_index, site_rows, subsample_training
from neuropeft.learn.loop import (
    CHECKPOINT,
    Checkpoint,
    EarlyStopping,
    Epochs,
    LoopResult,
    Validation,
    adamw_cosine,
    autocast,
    epoch_loader,
    run_epochs,
    run_record,
    seed_everything,
)
from neuropeft.learn.methods import count_parameters, load_trainable_state, save_weights, trainable_state
from neuropeft.learn.modalities import experiment_channels
from neuropeft.learn.model import BackboneWithHead
from neuropeft.learn.tasks import Task


@dataclass
class FoldData:
    """One fold's subject tables (train/val/test), fitted task, input geometry, datasets, and the
    covariates' encoding (None without covariates)."""

    tables: dict[str, pd.DataFrame]
    task: Task
    in_channels: int
    shape: tuple[int, ...]
    datasets: dict[str, VolumeDataset]
    covariates: CovariateEncoder | None = None

    @property
    def n_covariates(self) -> int:
        """Encoded covariates the head takes beside the image features."""
        return 0 if self.covariates is None else self.covariates.width


def load_fold_data(
    array_path: Path,
    index_path: Path,
    folds_path: Path,
    fold: int,
    settings: ExperimentSettings,
    site: str | None = None,
    covariates_table: Path | None = None,
) -> FoldData:
    """The fold's tables (training subsampled to ``settings.train_fraction``), its task and datasets;
    with ``site``, that site's subjects alone (a federated client); with ``settings.covariates``, their
    values from ``covariates_table`` (participants.tsv), encoded as the training part shows."""
    array = np.load(array_path, mmap_mode="r")
    if array.ndim != 5:
        raise NeuropeftError(f"{array_path} has shape {array.shape}; expected (N, C, X, Y, Z)")
    folds = pd.read_csv(folds_path, sep="\t", dtype=str, keep_default_na=False)
    check_folds(folds)
    index = read_index(index_path)
    if site is not None:
        index = site_rows(index, site, index_path)
    tables = fold_tables(index, folds, fold, array.shape[0])
    tables["train"] = subsample_training(tables["train"], settings.train_fraction, settings.seed, settings.task, fold)
    task = Task.fit(settings.task, tables["train"]["target"].tolist(), settings.class_weights)
    augment = Augment(
        settings.augment_flip, settings.augment_rotate_deg, settings.augment_scale, settings.augment_intensity
    )
    encoder, encoded = fold_covariates(tables, settings.covariates, covariates_table)
    channels = experiment_channels(settings.stack_modalities, settings.modalities, array.shape[1], str(array_path))
    datasets = {
        role: VolumeDataset(
            array_path,
            t["row"],
            task.encode(t["target"].tolist()),
            augment if role == "train" else None,
            settings.seed,
            encoded.get(role),
            channels,
        )
        for role, t in tables.items()
    }
    in_channels = int(array.shape[1]) if channels is None else len(channels)
    return FoldData(tables, task, in_channels, tuple(int(s) for s in array.shape[2:]), datasets, encoder)


def fold_covariates(
    tables: dict[str, pd.DataFrame], names: list[str], covariates_table: Path | None
) -> tuple[CovariateEncoder | None, dict[str, torch.Tensor]]:
    """The covariates' encoding fitted on the training part and each part's encoded rows ({} without covariates)."""
    if not names:
        return None, {}
    if covariates_table is None:
        raise NeuropeftError(f"the experiment names covariates {names}; pass --covariates-table (participants.tsv)")
    subjects = {role: table["participant_id"].tolist() for role, table in tables.items()}
    every = read_covariates(covariates_table, names, sorted({s for ids in subjects.values() for s in ids}))
    values = {role: every.loc[ids] for role, ids in subjects.items()}
    encoder = CovariateEncoder.fit(values["train"], names)
    return encoder, {role: torch.from_numpy(encoder.transform(frame)) for role, frame in values.items()}


def fold_loader(dataset: Dataset, settings: ExperimentSettings, shuffle_epoch: int | None = None) -> DataLoader:
    """Batches in order, or shuffled by a generator seeded with (seed, epoch) so resumes replay the order
    (cached features are read without worker processes)."""
    workers = 0 if isinstance(dataset, FeatureDataset) else settings.num_workers
    return epoch_loader(dataset, settings.batch_size, workers, settings.seed, shuffle_epoch)


@dataclass
class FoldInputs:
    """What the loop feeds and through what: the volumes through the whole model, or the frozen
    backbone's cached features through the head (``cached``)."""

    network: nn.Module
    datasets: dict[str, Dataset]
    cached: bool
    channels_last: bool


@torch.no_grad()
def frozen_features(
    model: BackboneWithHead,
    volumes: VolumeDataset,
    batch_size: int,
    device: torch.device,
    channels_last: bool,
    flip: bool = False,
) -> torch.Tensor:
    """The backbone's features of every volume as stored (left-right flipped when ``flip``, as the flip
    augmentation does it), in eval mode, on the CPU; draws nothing from any random generator."""
    model.eval()
    features = []
    for start in range(0, len(volumes), batch_size):
        items = range(start, min(start + batch_size, len(volumes)))
        x = torch.stack([volumes.volume(i) for i in items])
        if flip:
            x = torch.flip(x, dims=(2,))  # the first spatial axis of (B, C, X, Y, Z)
        with autocast(device):
            features.append(model.features(to_device(volumes.model_input(x, items), device, channels_last)).cpu())
    return torch.cat(features)


def fold_inputs(
    model: nn.Module, data: FoldData, settings: ExperimentSettings, device: torch.device, channels_last: bool
) -> FoldInputs:
    """The volumes through ``model``; or, with ``settings.cache_features`` on a frozen backbone, each
    part's features computed once (and those of the flipped training volumes under ``augment_flip``)
    through the head. An augmentation beyond the flip changes each volume every epoch: no cache then."""
    volumes = FoldInputs(model, dict(data.datasets), False, channels_last)
    if not (settings.cache_features and isinstance(model, BackboneWithHead) and model.frozen_backbone()):
        return volumes
    if not data.datasets["train"].augment.only_flips:
        print(
            "cache_features: the augmentation (rotation, scaling or intensity) changes every volume every epoch; "
            "training through the frozen backbone",
            file=sys.stderr,
        )
        return volumes
    datasets: dict[str, Dataset] = {}
    for role, dataset in data.datasets.items():
        features = frozen_features(model, dataset, settings.batch_size, device, channels_last)
        flipped = None
        if dataset.augment.flip:
            flipped = frozen_features(model, dataset, settings.batch_size, device, channels_last, flip=True)
        datasets[role] = FeatureDataset(dataset, features, flipped)
    return FoldInputs(model.head, datasets, True, False)


def fold_epochs(
    inputs: FoldInputs, data: FoldData, settings: ExperimentSettings, device: torch.device, fold: int
) -> Epochs:
    """One fine-tuning epoch for the loop: shuffled augmented training batches, then the validation."""
    task, train, network = data.task, inputs.datasets["train"], inputs.network

    def batches(epoch: int) -> DataLoader:
        train.epoch = epoch  # type: ignore[attr-defined]
        return fold_loader(train, settings, shuffle_epoch=epoch)

    def batch_loss(batch: tuple[torch.Tensor, torch.Tensor, Any]) -> tuple[torch.Tensor, int]:
        x, y, _ = batch
        with autocast(device):
            out = network(to_device(x, device, inputs.channels_last))
        return task.loss(out.float(), y.to(device)), len(x)

    def validate() -> Validation:
        val = fold_loader(inputs.datasets["val"], settings)
        outputs, targets = predict(network, val, device, inputs.channels_last)
        return Validation(task.loss(outputs, targets).item(), task.metric(task.decode(outputs), targets))

    return Epochs(batches, batch_loss, validate, label=f"fold {fold}")


def write_fold_outputs(
    model: nn.Module,
    data: FoldData,
    inputs: FoldInputs,
    result: LoopResult,
    fold: int,
    out_dir: Path,
    settings: ExperimentSettings,
    device: torch.device,
    init: str,
    source_dir: Path | None = None,
) -> None:
    """The fold's weights, history.tsv, run.json and the test subjects' predictions.tsv (``source_dir``:
    the fold a cross-modal model adapted)."""
    task = data.task
    test = fold_loader(inputs.datasets["test"], settings)
    outputs, _ = predict(inputs.network, test, device, inputs.channels_last)
    val = fold_loader(inputs.datasets["val"], settings)
    val_outputs, val_targets = predict(inputs.network, val, device, inputs.channels_last)
    val_decoded = task.decode(val_outputs)
    threshold = validation_threshold(task.kind, val_decoded, val_targets.numpy())
    bias = None
    if task.kind == "regression":
        bias = fit_prediction_bias(val_decoded, data.tables["val"]["target"].astype(float).to_numpy())
    counts = count_parameters(model)
    save_weights(model, settings.method, out_dir)
    write_tsv(pd.DataFrame(result.history), out_dir / "history.tsv")
    write_json(
        out_dir / "run.json",
        {
            "experiment": settings.name,
            "fold": fold,
            "backbone": settings.backbone,
            "method": settings.method,
            "head": settings.head,
            "task": task.kind,
            "classes": task.classes,
            "target_mean": task.mean,
            "target_std": task.std,
            "trainable_params": counts.trainable,
            "total_params": counts.total,
            "base_params": counts.base,
            **run_record(device, result.wall_seconds()),
            "seed": settings.seed,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "features_cached": inputs.cached,
            "init": init if settings.method != "scratch" else "random",
            "train_fraction": settings.train_fraction,
            "threshold": threshold,
            "age_bias": None if bias is None else {"slope": bias[0], "intercept": bias[1]},
            **{f"n_{role}": len(data.tables[role]) for role in ("train", "val", "test")},
            "input_shape": [data.in_channels, *data.shape],
            "covariates": None if data.covariates is None else data.covariates.to_json(),
            "cross_modal_source": None if source_dir is None else str(source_dir),
            "settings": dataclasses.asdict(settings),
        },
    )
    frame = predictions_frame(data.tables["test"], fold, task, task.decode(outputs), threshold, bias)
    write_tsv(frame, out_dir / "predictions.tsv")


def fold_cross_modal_model(
    source_dir: Path | None, settings: ExperimentSettings, data: FoldData
) -> tuple[nn.Module, str]:
    """A cross-modal experiment's model (the source fold's, adapted) and the init it records (the source's)."""
    from neuropeft.learn.cross_modal import cross_modal_model

    if source_dir is None:
        raise NeuropeftError(
            f"experiment {settings.name!r} adapts {settings.cross_modal.get('from')!r}: pass --source-model "
            "(that experiment's fold folder)"
        )
    if data.n_covariates:
        raise NeuropeftError(f"experiment {settings.name!r}: cross_modal adapts models without covariates")
    model, source_run = cross_modal_model(source_dir, settings)
    if list(source_run["classes"]) != data.task.classes:
        raise NeuropeftError(
            f"{source_dir} predicts classes {source_run['classes']}, this fold has {data.task.classes}; "
            "train both experiments on the same folds"
        )
    return model, str(source_run["init"])


def train_fold(
    array_path: Path,
    index_path: Path,
    folds_path: Path,
    fold: int,
    out_dir: Path,
    settings: ExperimentSettings,
    device: torch.device,
    init_checkpoint: str = "",
    covariates_table: Path | None = None,
    source_dir: Path | None = None,
) -> bool:
    """Train, early-stop, resume if interrupted, and write the fold's outputs; False if stopped early
    by ``max_epochs_this_run`` (checkpoint kept, no predictions written). A ``cross_modal`` experiment
    starts from the fold model in ``source_dir``."""
    started = time.time()
    if settings.monitor not in ("metric", "loss"):
        raise NeuropeftError(
            f"monitor must be 'metric' or 'loss', got {settings.monitor!r}; fix the experiment settings"
        )
    seed_everything(settings.seed, device)
    data = load_fold_data(array_path, index_path, folds_path, fold, settings, covariates_table=covariates_table)
    init = init_checkpoint or settings.init
    if settings.cross_modal:
        model, init = fold_cross_modal_model(source_dir, settings, data)
    else:
        model = make_model(settings, data.in_channels, data.shape, data.task.out_features, init, data.n_covariates)
    model = model.to(device)
    channels_last = uses_channels_last(settings.backbone, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)

    steps = len(fold_loader(data.datasets["train"], settings, shuffle_epoch=0))
    optimizer, scheduler = adamw_cosine(model, settings, steps)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(out_dir / CHECKPOINT, settings, identity={"fold": fold})
    inputs = fold_inputs(model, data, settings, device, channels_last)
    result = run_epochs(
        model,
        optimizer,
        scheduler,
        fold_epochs(inputs, data, settings, device, fold),
        settings,
        checkpoint,
        device,
        state_of=trainable_state,
        load_state=load_trainable_state,
        started=started,
        early_stopping=EarlyStopping(settings.patience, settings.monitor, data.task.higher_is_better),
    )
    if result is None:
        return False
    write_fold_outputs(model, data, inputs, result, fold, out_dir, settings, device, init, source_dir)
    checkpoint.remove()
    return True
