"""Training a segmentation model on one fold and predicting label maps with it.

Inputs are model-grid arrays: images (N, C, X, Y, Z) float32 and label maps (N, X, Y, Z) of class
numbers 0..K-1. The loss is MONAI's ``DiceCELoss`` (softmax, one-hot reference); AdamW with linear
warm-up and cosine decay, seeding, the resumable checkpoint and early stopping on the mean validation
Dice come from the shared loop (:mod:`neuropeft.learn.loop`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from torch import nn
from torch.utils.data import TensorDataset

from neuropeft.errors import NeuropeftError
from neuropeft.learn.loop import (
    Checkpoint,
    EarlyStopping,
    Epochs,
    Validation,
    adamw_cosine,
    autocast,
    epoch_loader,
    run_epochs,
    seed_everything,
    select_device,
)
from neuropeft.learn.methods import load_trainable_state, trainable_state
from neuropeft.segment.methods import Adapters, apply_method
from neuropeft.segment.metrics import dice_per_class
from neuropeft.segment.models import build_segmentation_model


@dataclass
class SegmentationSettings:
    """One segmentation fine-tuning run; LoRA/DoRA defaults are the second seed's (PEMMA)."""

    name: str = ""  # the experiment's name (config segmentation_experiments)
    grid: str = ""  # the model grid (config model_grids name; "" = model_grid)
    backbone: str = "unetr"  # unetr, swin-unetr (or their -tiny variants)
    method: str = "lora"  # lora, dora, decoder, full or scratch
    model_options: dict[str, Any] = field(default_factory=dict)  # MONAI size arguments (hidden_size, feature_size ...)
    lora_rank: int = 4  # LoRA/DoRA rank r
    lora_alpha: float = 8.0  # LoRA/DoRA scaling numerator (update scaled by alpha / r)
    lora_dropout: float = 0.1  # dropout on the LoRA/DoRA input
    lora_targets: str = ""  # full-name regex of adapted modules; "" = the backbone's default
    lora_train_decoder: bool = (
        False  # LoRA/DoRA train the whole decoder, not only the output block (no pre-trained decoder)
    )
    epochs: int = 50  # maximum number of epochs
    batch_size: int = 2  # volumes per optimiser step
    lr: float = 1e-4  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_epochs: float = 2.0  # linear warm-up (epochs) before the cosine decay to 0 at `epochs`
    grad_clip: float = 1.0  # maximum gradient L2 norm (0 = no clipping)
    patience: int = 10  # stop after this many epochs without a better mean validation Dice
    seed: int = 0  # seed of initialisation, batch order and dropout
    init: str = "random"  # random, or the path of a checkpoint of the network or its encoder
    checkpoint_sha256: str = ""  # optional SHA-256 the init checkpoint must have
    max_epochs_this_run: int = 0  # stop after this many epochs in this invocation, resumable (0 = no limit)
    checkpoint_seconds: float = 60.0  # least time between two resumable checkpoints (0 = after every epoch)


@dataclass
class FoldResult:
    """A trained fold: the model (best epoch's weights), its history and the validation Dice per class."""

    model: nn.Module
    history: list[dict[str, Any]]
    val_dice: np.ndarray  # (K-1,) mean over validation subjects, NaN for a class absent from all of them
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    wall_seconds: float  # over every invocation of a resumed run


def make_segmentation_model(
    settings: SegmentationSettings, in_channels: int, num_classes: int, input_shape: tuple[int, ...]
) -> nn.Module:
    """The backbone (random, or from ``settings.init`` unless the method is ``scratch``) with the method
    applied; seeded by ``settings.seed``."""
    torch.manual_seed(settings.seed)
    model = build_segmentation_model(settings.backbone, in_channels, num_classes, input_shape, **settings.model_options)
    if settings.init != "random" and settings.method != "scratch":
        model.load_pretrained(settings.init, settings.checkpoint_sha256)
    adapters = Adapters(
        settings.lora_rank,
        settings.lora_alpha,
        settings.lora_dropout,
        settings.lora_targets,
        settings.lora_train_decoder,
    )
    return apply_method(model, settings.method, adapters)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Float32 logits (N, K, X, Y, Z) on the CPU, the model in eval mode."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        with autocast(device):
            outputs.append(model(images[start : start + batch_size].to(device)).float().cpu())
    return torch.cat(outputs)


def predict_labels(
    model: nn.Module, images: np.ndarray, batch_size: int = 2, device: torch.device | None = None
) -> np.ndarray:
    """Label maps (N, X, Y, Z) int32: the most likely class of every voxel of images (N, C, X, Y, Z)."""
    device = device or next(model.parameters()).device
    logits = predict_logits(model, torch.as_tensor(np.asarray(images, np.float32)), batch_size, device)
    return logits.argmax(dim=1).numpy().astype(np.int32)


def _nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The mean without NaNs; NaN (without a warning) where there is nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _check_inputs(images: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    """Refuse images and label maps of mismatched shapes, and labels that are not class numbers."""
    if images.ndim != 5 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise NeuropeftError(
            f"images {images.shape} must be (N, C, X, Y, Z) and labels {labels.shape} (N, X, Y, Z) on the same grid"
        )
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise NeuropeftError(f"label maps hold values outside 0..{num_classes - 1}; group the labels into classes")


def train_fold(
    images: np.ndarray,
    labels: np.ndarray,
    train_idx: Sequence[int] | np.ndarray,
    val_idx: Sequence[int] | np.ndarray,
    num_classes: int,
    settings: SegmentationSettings,
    checkpoint: Path,
    device: torch.device | None = None,
) -> FoldResult | None:
    """Train on ``images[train_idx]`` against ``labels[train_idx]``, validating on ``val_idx`` after every
    epoch; resumable from ``checkpoint`` (the caller removes it once it has written its outputs).

    Returns None when ``settings.max_epochs_this_run`` paused the run (the checkpoint is kept).
    ``num_classes`` counts the background; ``device`` defaults to CUDA when present.
    """
    images, labels = np.asarray(images, np.float32), np.asarray(labels)
    _check_inputs(images, labels, num_classes)
    device = device or select_device("auto")
    seed_everything(settings.seed, device)
    model = make_segmentation_model(settings, images.shape[1], num_classes, images.shape[2:]).to(device)
    train = TensorDataset(torch.as_tensor(images[train_idx]), torch.as_tensor(labels[train_idx], dtype=torch.long))
    val_x, val_y = torch.as_tensor(images[val_idx]), labels[val_idx]
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)

    def batches(epoch: int) -> torch.utils.data.DataLoader:
        return epoch_loader(train, settings.batch_size, 0, settings.seed, epoch)

    def batch_loss(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
        x, y = batch
        with autocast(device):
            logits = model(x.to(device))
        return loss_fn(logits.float(), y.unsqueeze(1).to(device)), len(x)

    def validate() -> Validation:
        logits = predict_logits(model, val_x, settings.batch_size, device)
        loss = loss_fn(logits, torch.as_tensor(val_y, dtype=torch.long).unsqueeze(1)).item()
        return Validation(loss, float(_nanmean(dice_per_class(logits.argmax(dim=1).numpy(), val_y, num_classes))))

    optimizer, scheduler = adamw_cosine(model, settings, len(batches(0)))
    result = run_epochs(
        model,
        optimizer,
        scheduler,
        Epochs(batches, batch_loss, validate, label="segment"),
        settings,
        Checkpoint(checkpoint, settings),
        device,
        early_stopping=EarlyStopping(settings.patience),
        state_of=trainable_state,
        load_state=load_trainable_state,
    )
    if result is None:
        return None
    dice = dice_per_class(predict_labels(model, val_x.numpy(), settings.batch_size, device), val_y, num_classes)
    return FoldResult(
        model,
        result.history,
        _nanmean(dice, axis=0),
        result.best_epoch,
        result.epochs_run,
        result.stopped_early,
        result.wall_seconds(),
    )
