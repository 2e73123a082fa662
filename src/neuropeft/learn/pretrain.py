"""Self-supervised pre-training on every volume of the cohort stack: loop, resume, foundation checkpoint.

Writes ``backbone.safetensors`` — the backbone's ``net`` state dict with bare key names, which
:meth:`Backbone.load_pretrained` (an experiment's ``init``) loads with strict key matching — plus
``history.tsv`` and ``run.json``. Labels are never read.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from neuropeft.atomic import atomic_path, write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import BACKBONES, build_backbone
from neuropeft.learn.checkpoint import sha256_of
from neuropeft.learn.data import Augment
from neuropeft.learn.folds import read_index
from neuropeft.learn.pretrain_cnn import Autoencoder, SimCLR
from neuropeft.learn.pretrain_data import AugmentedViews
from neuropeft.learn.pretrain_mae import MaskedAutoencoder
from neuropeft.learn.pretrain_settings import STRATEGIES, PretrainSettings
from neuropeft.learn.train import (
    _autocast,
    _optimiser_step,
    _peak_memory_mb,
    _rng_state,
    _save_checkpoint,
    _set_rng_state,
    _versions,
    cosine_schedule,
    seed_everything,
)

CHECKPOINT = "checkpoint.pt"
BACKBONE_FILE = "backbone.safetensors"
#: settings that may change between a run and its resume
RESUMABLE_CHANGES = {"max_epochs_this_run", "num_workers"}


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
            f"pretrain strategy {strategy!r} needs a {'ViT' if kind == 'vit' else 'ResNet'} backbone "
            f"({', '.join(fitting)}), not {backbone!r}; change the backbone or the strategy"
        )


def build_pretrain_model(settings: PretrainSettings, in_channels: int, shape: Sequence[int]) -> nn.Module:
    """The strategy's model around a randomly initialised backbone (``.backbone``), seeded by ``settings.seed``."""
    check_pairing(settings.strategy, settings.backbone)
    torch.manual_seed(settings.seed)
    backbone = build_backbone(settings.backbone, in_channels, shape)
    if settings.strategy == "mae":
        return MaskedAutoencoder(
            backbone, in_channels, settings.mask_ratio, settings.decoder_dim, settings.decoder_depth,
            settings.decoder_heads, settings.norm_pix_loss,
        )
    if settings.strategy == "reconstruction":
        return Autoencoder(
            backbone, in_channels, shape, settings.decoder_dim, settings.input_mask_ratio,
            settings.input_mask_patch, settings.input_noise_std,
        )
    return SimCLR(backbone, settings.projection_dim, settings.temperature)


def _loader(dataset: AugmentedViews, settings: PretrainSettings, epoch: int) -> DataLoader:
    """Shuffled batches from a generator seeded with (seed, epoch), so a resume replays the order."""
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.seed * 100_003 + epoch),
        drop_last=len(dataset) % settings.batch_size == 1,  # a 1-volume batch breaks training BatchNorm
        num_workers=settings.num_workers,
        pin_memory=torch.cuda.is_available(),
    )


def save_backbone(model: nn.Module, path: Path) -> None:
    """Atomically write the backbone's ``net`` state dict (bare keys) as safetensors."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.backbone.net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def pretrain(array_path: Path, index_path: Path, out_dir: Path, settings: PretrainSettings, device: torch.device) -> bool:
    """Pre-train on every volume, resuming from ``out_dir/checkpoint.pt``; False if stopped by
    ``max_epochs_this_run`` (checkpoint kept, no backbone written)."""
    started = time.time()
    check_pairing(settings.strategy, settings.backbone)
    array = np.load(array_path, mmap_mode="r")
    if array.ndim != 5:
        raise NeuropeftError(f"{array_path} has shape {array.shape}; expected (N, C, X, Y, Z)")
    index = read_index(index_path)
    if sorted(index["row"]) != list(range(array.shape[0])):
        raise NeuropeftError(f"{index_path} does not list rows 0..{array.shape[0] - 1} of {array_path}; rebuild model_input together")
    if array.shape[0] < 2:
        raise NeuropeftError(f"{array_path} holds {array.shape[0]} volume(s); pre-training needs at least 2")
    seed_everything(settings.seed, device)
    in_channels, shape = int(array.shape[1]), tuple(int(s) for s in array.shape[2:])
    model = build_pretrain_model(settings, in_channels, shape).to(device)
    augment = Augment(settings.augment_flip, settings.augment_rotate_deg, settings.augment_scale, settings.augment_intensity)
    views = 2 if settings.strategy == "contrastive" else 1
    dataset = AugmentedViews(array_path, range(array.shape[0]), augment, settings.augment_noise_std, views, settings.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = len(_loader(dataset, settings, 0))
    scheduler = cosine_schedule(optimizer, round(settings.warmup_epochs * steps), settings.epochs * steps)

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT
    plain_settings = dataclasses.asdict(settings)
    state: dict[str, Any] = {"epoch": 0, "history": [], "elapsed": 0.0}
    if ckpt_path.exists():
        saved = torch.load(ckpt_path, map_location=device, weights_only=True)
        changed = sorted(k for k, v in plain_settings.items() if saved["settings"].get(k) != v and k not in RESUMABLE_CHANGES)
        if changed:
            raise NeuropeftError(f"{ckpt_path} was written with other settings ({changed}); delete it to restart")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        _set_rng_state(saved["rng"])
        state = {k: saved[k] for k in state}

    previous_seconds, run_epochs = state["elapsed"], 0
    while state["epoch"] < settings.epochs:
        if settings.max_epochs_this_run and run_epochs >= settings.max_epochs_this_run:
            return False
        epoch, tick = state["epoch"], time.time()
        dataset.epoch = epoch
        model.train()
        total, count = 0.0, 0
        bar = tqdm(_loader(dataset, settings, epoch), desc=f"pretrain {settings.strategy} epoch {epoch + 1}/{settings.epochs}", file=sys.stderr, dynamic_ncols=True)
        for batch in bar:
            with _autocast(device):
                loss = model(batch.to(device, non_blocking=True))
            _optimiser_step(loss, optimizer, scheduler, params, settings.grad_clip)
            total, count = total + loss.item() * len(batch), count + len(batch)
            bar.set_postfix(loss=f"{total / count:.4f}")
        bar.close()
        state["history"].append({
            "epoch": epoch + 1, "train_loss": total / max(count, 1), "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - tick,
        })
        state["epoch"] = epoch + 1
        state["elapsed"] = previous_seconds + time.time() - started
        run_epochs += 1
        _save_checkpoint(ckpt_path, {
            **state, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": _rng_state(), "settings": plain_settings,
        })

    backbone_path = out_dir / BACKBONE_FILE
    save_backbone(model, backbone_path)
    history = pd.DataFrame(state["history"], columns=["epoch", "train_loss", "lr", "seconds"])
    write_tsv(history, out_dir / "history.tsv")
    write_json(out_dir / "run.json", {
        "name": settings.name, "strategy": settings.strategy, "backbone": settings.backbone, "epochs": state["epoch"],
        "loss_curve": history["train_loss"].tolist(),
        "seconds_per_epoch": float(history["seconds"].mean()) if len(history) else 0.0,
        "wall_seconds": previous_seconds + time.time() - started, "peak_memory_mb": _peak_memory_mb(device),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "seed": settings.seed, "n_volumes": int(array.shape[0]), "input_shape": [in_channels, *shape],
        "backbone_params": sum(p.numel() for p in model.backbone.parameters()),
        "pretrain_params": sum(p.numel() for p in model.parameters()),
        "backbone_file": BACKBONE_FILE, "backbone_sha256": sha256_of(backbone_path),
        "settings": plain_settings, "versions": _versions(),
    })
    ckpt_path.unlink()
    return True
