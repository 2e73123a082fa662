"""Self-supervised pre-training on the cohort stack: the strategy's model and views on the shared loop, its outputs.

Writes ``backbone.safetensors`` — the backbone's ``net`` state dict with bare key names, which
:meth:`Backbone.load_pretrained` (an experiment's ``init``) loads with strict key matching — plus
``history.tsv`` and ``run.json``. Labels are never read.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader

from neuropeft.atomic import atomic_path, write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import BACKBONES, build_backbone
from neuropeft.learn.checkpoint import sha256_of
from neuropeft.learn.data import Augment
from neuropeft.learn.folds import read_index
from neuropeft.learn.loop import (
    CHECKPOINT,
    Checkpoint,
    Epochs,
    LoopResult,
    adamw_cosine,
    autocast,
    epoch_loader,
    run_epochs,
    run_record,
    seed_everything,
)
from neuropeft.learn.pretrain.cnn import Autoencoder, SimCLR
from neuropeft.learn.pretrain.data import AugmentedViews
from neuropeft.learn.pretrain.mae import MaskedAutoencoder
from neuropeft.learn.pretrain.settings import STRATEGIES, PretrainSettings

BACKBONE_FILE = "backbone.safetensors"


def check_pairing(strategy: str, backbone: str) -> None:
    """Refuse an unknown strategy or backbone, or a strategy the backbone cannot run."""
    if strategy not in STRATEGIES:
        raise NeuropeftError(f"unknown pretrain strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    if backbone not in BACKBONES:
        raise NeuropeftError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
    kind = STRATEGIES[strategy][0]
    fitting = sorted(name for name in BACKBONES if name.startswith("vit") == (kind == "vit"))
    if backbone not in fitting:
        raise NeuropeftError(
            f"pretrain strategy {strategy!r} needs a {'ViT' if kind == 'vit' else 'convolutional-map'} backbone "
            f"({', '.join(fitting)}), not {backbone!r}; change the backbone or the strategy"
        )


def build_pretrain_model(settings: PretrainSettings, in_channels: int, shape: Sequence[int]) -> nn.Module:
    """The strategy's model around a randomly initialised backbone (``.backbone``), seeded by ``settings.seed``."""
    check_pairing(settings.strategy, settings.backbone)
    torch.manual_seed(settings.seed)
    backbone = build_backbone(settings.backbone, in_channels, shape)
    if settings.strategy == "mae":
        return MaskedAutoencoder(
            backbone,
            in_channels,
            settings.mask_ratio,
            settings.decoder_dim,
            settings.decoder_depth,
            settings.decoder_heads,
            settings.norm_pix_loss,
        )
    if settings.strategy == "reconstruction":
        return Autoencoder(
            backbone,
            in_channels,
            shape,
            settings.decoder_dim,
            settings.input_mask_ratio,
            settings.input_mask_patch,
            settings.input_noise_std,
        )
    return SimCLR(backbone, settings.projection_dim, settings.temperature)


def pretrain_loader(dataset: AugmentedViews, settings: PretrainSettings, epoch: int) -> DataLoader:
    """Shuffled batches from a generator seeded with (seed, epoch), so a resume replays the order."""
    return epoch_loader(dataset, settings.batch_size, settings.num_workers, settings.seed, epoch)


def save_backbone(model: nn.Module, path: Path) -> None:
    """Atomically write the backbone's ``net`` state dict (bare keys) as safetensors."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.backbone.net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def check_input(array_path: Path, index_path: Path) -> np.ndarray:
    """The memory-mapped stack, refused unless 5-D, listed row by row by the index, and of 2+ volumes."""
    array = np.load(array_path, mmap_mode="r")
    if array.ndim != 5:
        raise NeuropeftError(f"{array_path} has shape {array.shape}; expected (N, C, X, Y, Z)")
    index = read_index(index_path)
    if sorted(index["row"]) != list(range(array.shape[0])):
        raise NeuropeftError(
            f"{index_path} does not list rows 0..{array.shape[0] - 1} of {array_path}; rebuild model_input together"
        )
    if array.shape[0] < 2:
        raise NeuropeftError(f"{array_path} holds {array.shape[0]} volume(s); pre-training needs at least 2")
    return array


def pretrain_epochs(
    model: nn.Module, dataset: AugmentedViews, settings: PretrainSettings, device: torch.device
) -> Epochs:
    """One pre-training epoch for the loop: shuffled augmented views, the strategy's own loss, no validation."""

    def batches(epoch: int) -> DataLoader:
        dataset.epoch = epoch
        return pretrain_loader(dataset, settings, epoch)

    def batch_loss(batch: torch.Tensor) -> tuple[torch.Tensor, int]:
        with autocast(device):
            loss = model(batch.to(device, non_blocking=True))
        return loss, len(batch)

    return Epochs(batches, batch_loss, label=f"pretrain {settings.strategy}")


def write_pretrain_outputs(
    model: nn.Module,
    result: LoopResult,
    out_dir: Path,
    settings: PretrainSettings,
    device: torch.device,
    array: np.ndarray,
) -> None:
    """backbone.safetensors, history.tsv and run.json of a finished pre-training."""
    backbone_path = out_dir / BACKBONE_FILE
    save_backbone(model, backbone_path)
    history = pd.DataFrame(result.history, columns=["epoch", "train_loss", "lr", "seconds"])
    write_tsv(history, out_dir / "history.tsv")
    write_json(
        out_dir / "run.json",
        {
            "name": settings.name,
            "strategy": settings.strategy,
            "backbone": settings.backbone,
            "epochs": result.epochs_run,
            "loss_curve": history["train_loss"].tolist(),
            "seconds_per_epoch": float(history["seconds"].mean()) if len(history) else 0.0,
            **run_record(device, result.wall_seconds()),
            "seed": settings.seed,
            "n_volumes": int(array.shape[0]),
            "input_shape": list(array.shape[1:]),
            "backbone_params": sum(p.numel() for p in model.backbone.parameters()),
            "pretrain_params": sum(p.numel() for p in model.parameters()),
            "backbone_file": BACKBONE_FILE,
            "backbone_sha256": sha256_of(backbone_path),
            "settings": dataclasses.asdict(settings),
        },
    )


def pretrain(
    array_path: Path, index_path: Path, out_dir: Path, settings: PretrainSettings, device: torch.device
) -> bool:
    """Pre-train on every volume, resuming from ``out_dir/checkpoint.pt``; False if stopped by
    ``max_epochs_this_run`` (checkpoint kept, no backbone written)."""
    started = time.time()
    check_pairing(settings.strategy, settings.backbone)
    array = check_input(array_path, index_path)
    seed_everything(settings.seed, device)
    in_channels, shape = int(array.shape[1]), tuple(int(s) for s in array.shape[2:])
    model = build_pretrain_model(settings, in_channels, shape).to(device)
    augment = Augment(
        settings.augment_flip, settings.augment_rotate_deg, settings.augment_scale, settings.augment_intensity
    )
    views = 2 if settings.strategy == "contrastive" else 1
    dataset = AugmentedViews(
        array_path, range(array.shape[0]), augment, settings.augment_noise_std, views, settings.seed
    )
    optimizer, scheduler = adamw_cosine(model, settings, len(pretrain_loader(dataset, settings, 0)))
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(out_dir / CHECKPOINT, settings)
    epochs = pretrain_epochs(model, dataset, settings, device)
    result = run_epochs(model, optimizer, scheduler, epochs, settings, checkpoint, device, started=started)
    if result is None:
        return False
    write_pretrain_outputs(model, result, out_dir, settings, device, array)
    checkpoint.remove()
    return True
