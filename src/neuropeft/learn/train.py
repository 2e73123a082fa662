"""Training of one experiment on one fold: loop, early stopping, resumable checkpoints, outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from neuropeft.atomic import atomic_path, write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.data import Augment, VolumeDataset, fold_tables
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.folds import check_folds, read_index, subsample_training
from neuropeft.learn.methods import (
    apply_method,
    count_parameters,
    load_trainable_state,
    load_weights,
    save_weights,
    trainable_state,
)
from neuropeft.learn.model import build_model
from neuropeft.learn.tasks import Task, normalise_label

CHECKPOINT = "checkpoint.pt"
#: settings that may change between a run and its resume
RESUMABLE_CHANGES = {"max_epochs_this_run", "num_workers"}
#: index targets that mean "unknown" (external test sets without labels)
UNKNOWN_TARGETS = ("", "n/a")


def select_device(choice: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cuda`` refuses to run without a GPU."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise NeuropeftError("--device cuda but no CUDA device is visible; use --device auto or cpu")
    if choice not in ("cpu", "cuda"):
        raise NeuropeftError(f"--device must be auto, cpu or cuda, got {choice!r}")
    return torch.device(choice)


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch and ask for deterministic kernels (warn only where none exists)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)


def cosine_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the peak rate, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_model(
    settings: ExperimentSettings, in_channels: int, shape: tuple[int, ...], out_features: int, init: str
) -> nn.Module:
    """Backbone (random or from ``init``) + head, with the method applied; seeded by ``settings.seed``."""
    torch.manual_seed(settings.seed)
    model = build_model(settings.backbone, settings.head, in_channels, shape, out_features, settings.head_hidden, settings.head_dropout, settings.head_norm)
    if init != "random" and settings.method != "scratch":
        model.backbone.load_pretrained(init, settings.checkpoint_sha256)
    return apply_method(model, settings)


def load_trained_model(
    out_dir: Path, settings: ExperimentSettings, in_channels: int, shape: tuple[int, ...], out_features: int, init: str = "random"
) -> nn.Module:
    """The trained model of ``out_dir`` rebuilt from its base (same seed and init) and saved weights."""
    torch.manual_seed(settings.seed)
    model = build_model(settings.backbone, settings.head, in_channels, shape, out_features, settings.head_hidden, settings.head_dropout, settings.head_norm)
    if init != "random" and settings.method != "scratch":
        model.backbone.load_pretrained(init, settings.checkpoint_sha256)
    return load_weights(model, settings.method, out_dir)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimiser_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any, params: list, grad_clip: float) -> None:
    """Back-propagate ``loss``, clip the gradient norm (when ``grad_clip`` > 0) and step optimiser and schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    scheduler.step()


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw outputs (float32, CPU) and encoded targets for every item, in order."""
    model.eval()
    outputs, targets = [], []
    for x, y, _ in loader:
        with _autocast(device):
            outputs.append(model(_to_device(x, device, channels_last)).float().cpu())
        targets.append(y)
    return torch.cat(outputs), torch.cat(targets)


def _loader(dataset: VolumeDataset, settings: ExperimentSettings, shuffle_epoch: int | None = None) -> DataLoader:
    """Batches in order, or shuffled by a generator seeded with (seed, epoch) so resumes replay the order."""
    generator = None
    drop_last = False
    if shuffle_epoch is not None:
        generator = torch.Generator().manual_seed(settings.seed * 100_003 + shuffle_epoch)
        drop_last = len(dataset) % settings.batch_size == 1  # a 1-volume batch breaks training BatchNorm
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=shuffle_epoch is not None,
        generator=generator,
        drop_last=drop_last,
        num_workers=settings.num_workers,
        pin_memory=torch.cuda.is_available(),
    )


def _improved(task: Task, monitor: str, metric: float, loss: float, best: dict[str, Any]) -> bool:
    """Whether this epoch beats the best: on the metric (ties broken by loss) or on the loss."""
    if best["epoch"] < 0:
        return True
    if monitor == "loss" or math.isnan(metric) or math.isnan(best["metric"]):
        return loss < best["loss"]
    if metric == best["metric"]:
        return loss < best["loss"]
    return metric > best["metric"] if task.higher_is_better else metric < best["metric"]


def _rng_state() -> dict[str, Any]:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomically write the resumable state (loadable with weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _versions() -> dict[str, str]:
    import monai
    import peft

    import neuropeft

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "peft": peft.__version__,
        "monai": monai.__version__,
        "numpy": np.__version__,
        "neuropeft": neuropeft.__version__,
        "cuda": torch.version.cuda or "",
    }


def predictions_frame(table: pd.DataFrame, fold: int | str, task: Task, decoded: np.ndarray) -> pd.DataFrame:
    """predictions.tsv rows of ``table``'s subjects; an unknown target ("" or "n/a") leaves y_true empty."""
    frame = table[["participant_id", "session"]].copy()
    frame["fold"] = fold
    known = ~table["target"].astype(str).isin(UNKNOWN_TARGETS)
    if task.kind == "classification":
        frame["y_true"] = [normalise_label(t) if k else "" for t, k in zip(table["target"], known)]
        for k, name in enumerate(task.classes):
            frame[f"prob_{name}"] = decoded[:, k]
        frame["y_pred"] = [task.classes[k] for k in decoded.argmax(axis=1)]
    else:
        frame["y_true"] = table["target"].where(known).astype(float).to_numpy()
        frame["y_pred"] = decoded
    return frame


def train_fold(
    array_path: Path,
    index_path: Path,
    folds_path: Path,
    fold: int,
    out_dir: Path,
    settings: ExperimentSettings,
    device: torch.device,
    init_checkpoint: str = "",
) -> bool:
    """Train, early-stop, resume if interrupted, and write the fold's outputs; False if stopped early
    by ``max_epochs_this_run`` (checkpoint kept, no predictions written)."""
    started = time.time()
    if settings.monitor not in ("metric", "loss"):
        raise NeuropeftError(f"monitor must be 'metric' or 'loss', got {settings.monitor!r}; fix the experiment settings")
    seed_everything(settings.seed, device)
    array = np.load(array_path, mmap_mode="r")
    if array.ndim != 5:
        raise NeuropeftError(f"{array_path} has shape {array.shape}; expected (N, C, X, Y, Z)")
    folds = pd.read_csv(folds_path, sep="\t", dtype=str, keep_default_na=False)
    check_folds(folds)
    tables = fold_tables(read_index(index_path), folds, fold, array.shape[0])
    tables["train"] = subsample_training(tables["train"], settings.train_fraction, settings.seed, settings.task, fold)
    task = Task.fit(settings.task, tables["train"]["target"].tolist(), settings.class_weights)
    in_channels, shape = int(array.shape[1]), tuple(int(s) for s in array.shape[2:])
    init = init_checkpoint or settings.init
    model = make_model(settings, in_channels, shape, task.out_features, init).to(device)
    channels_last = device.type == "cuda" and settings.backbone.startswith(("resnet", "fmcib"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)

    augment = Augment(settings.augment_flip, settings.augment_rotate_deg, settings.augment_scale, settings.augment_intensity)
    datasets = {
        role: VolumeDataset(array_path, t["row"], task.encode(t["target"].tolist()), augment if role == "train" else None, settings.seed)
        for role, t in tables.items()
    }
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = len(_loader(datasets["train"], settings, shuffle_epoch=0))
    scheduler = cosine_schedule(optimizer, round(settings.warmup_epochs * steps), settings.epochs * steps)

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT
    plain_settings = dataclasses.asdict(settings)
    state: dict[str, Any] = {
        "epoch": 0, "best": {"epoch": -1, "metric": float("nan"), "loss": float("inf")}, "stale": 0,
        "history": [], "best_state": trainable_state(model), "stopped": False, "elapsed": 0.0,
    }
    if ckpt_path.exists():
        saved = torch.load(ckpt_path, map_location=device, weights_only=True)
        changed = sorted(k for k, v in plain_settings.items() if saved["settings"].get(k) != v and k not in RESUMABLE_CHANGES)
        if changed or saved["fold"] != fold:
            raise NeuropeftError(f"{ckpt_path} was written with other settings ({changed or 'fold'}); delete it to restart")
        load_trainable_state(model, saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        _set_rng_state(saved["rng"])
        state = {k: saved[k] for k in state}

    previous_seconds, run_epochs = state["elapsed"], 0
    while state["epoch"] < settings.epochs and not state["stopped"]:
        if settings.max_epochs_this_run and run_epochs >= settings.max_epochs_this_run:
            return False
        epoch, tick = state["epoch"], time.time()
        datasets["train"].epoch = epoch
        model.train()
        total, count = 0.0, 0
        bar = tqdm(_loader(datasets["train"], settings, shuffle_epoch=epoch), desc=f"fold {fold} epoch {epoch + 1}/{settings.epochs}", file=sys.stderr, leave=True, dynamic_ncols=True)
        for x, y, _ in bar:
            with _autocast(device):
                out = model(_to_device(x, device, channels_last))
            loss = task.loss(out.float(), y.to(device))
            _optimiser_step(loss, optimizer, scheduler, params, settings.grad_clip)
            total, count = total + loss.item() * len(x), count + len(x)
            bar.set_postfix(loss=f"{total / count:.4f}")
        outputs, targets = predict(model, _loader(datasets["val"], settings), device, channels_last)
        val_loss = task.loss(outputs, targets).item()
        val_metric = task.metric(task.decode(outputs), targets)
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}", val_loss=f"{val_loss:.4f}", val_metric=f"{val_metric:.4f}")
        bar.close()
        state["history"].append({
            "epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": val_loss, "val_metric": val_metric,
            "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - tick,
        })
        if _improved(task, settings.monitor, val_metric, val_loss, state["best"]):
            state["best"] = {"epoch": epoch + 1, "metric": val_metric, "loss": val_loss}
            state["best_state"] = {k: v.detach().clone() for k, v in trainable_state(model).items()}
            state["stale"] = 0
        else:
            state["stale"] += 1
        state["epoch"] = epoch + 1
        state["stopped"] = state["stale"] >= settings.patience
        state["elapsed"] = previous_seconds + time.time() - started
        run_epochs += 1
        _save_checkpoint(ckpt_path, {
            **state, "model": trainable_state(model), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": _rng_state(), "settings": plain_settings, "fold": fold,
        })

    load_trainable_state(model, state["best_state"])
    outputs, _ = predict(model, _loader(datasets["test"], settings), device, channels_last)
    counts = count_parameters(model)
    save_weights(model, settings.method, out_dir)
    write_tsv(pd.DataFrame(state["history"]), out_dir / "history.tsv")
    write_json(out_dir / "run.json", {
        "experiment": settings.name, "fold": fold, "backbone": settings.backbone, "method": settings.method,
        "head": settings.head, "task": task.kind, "classes": task.classes, "target_mean": task.mean, "target_std": task.std,
        "trainable_params": counts.trainable, "total_params": counts.total, "base_params": counts.base,
        "wall_seconds": previous_seconds + time.time() - started, "peak_memory_mb": _peak_memory_mb(device),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "seed": settings.seed, "best_epoch": state["best"]["epoch"], "epochs_run": state["epoch"],
        "stopped_early": state["stopped"], "init": init if settings.method != "scratch" else "random",
        "train_fraction": settings.train_fraction, "n_train": len(tables["train"]), "n_val": len(tables["val"]), "n_test": len(tables["test"]),
        "input_shape": [in_channels, *shape], "settings": plain_settings, "versions": _versions(),
    })
    write_tsv(predictions_frame(tables["test"], fold, task, task.decode(outputs)), out_dir / "predictions.tsv")
    ckpt_path.unlink()
    return True
