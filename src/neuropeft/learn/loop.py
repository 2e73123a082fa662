"""One resumable training loop, shared by fine-tuning (learn/train.py) and pre-training (learn/pretrain/).

A caller describes one epoch — its training batches, the loss of one batch, optionally a validation — and
:func:`run_epochs` runs the epochs: optimiser steps, progress bar, history, checkpoint after every epoch,
exact resume (weights, optimiser, schedule, RNG) and early stopping. As in MONAI, where the trainer
(``monai/engines``) is kept apart from checkpointing and early stopping (``monai/handlers``), the pieces
are separate: :class:`Checkpoint` writes and checks the resumable state, :class:`EarlyStopping` follows
the validation, :func:`run_record` describes the machine a run used. A federated client's local epochs
are one more call of :func:`run_epochs` with its own batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from neuropeft.atomic import atomic_path
from neuropeft.errors import NeuropeftError
from neuropeft.provenance import package_versions

#: file name of the resumable state in a run's output folder (removed once the outputs are written)
CHECKPOINT = "checkpoint.pt"
#: settings that may change between a run and its resume
RESUMABLE_CHANGES = frozenset({"max_epochs_this_run", "num_workers", "checkpoint_seconds"})
#: packages whose versions a run records
VERSIONED_PACKAGES = ("torch", "peft", "monai", "numpy", "neuropeft")


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


def cosine_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """The learning-rate factor at ``step``: linear warm-up from 0 to 1, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, first_step: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to the peak rate, then cosine decay to 0 at ``total_steps``; starting at
    ``first_step`` (a federated round goes on where the last one stopped)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_factor(first_step + step, warmup_steps, total_steps)
    )


def adamw_cosine(
    model: nn.Module, settings: Any, steps_per_epoch: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters (``settings.lr``, ``weight_decay``) and its schedule: warm-up for
    ``settings.warmup_epochs``, cosine decay to 0 at ``settings.epochs``."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    total = settings.epochs * steps_per_epoch
    return optimizer, cosine_schedule(optimizer, round(settings.warmup_epochs * steps_per_epoch), total)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def optimiser_step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler: Any, params: list, grad_clip: float
) -> None:
    """Back-propagate ``loss``, clip the gradient norm (when ``grad_clip`` > 0) and step optimiser and schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    scheduler.step()


def epoch_loader(
    dataset: Dataset, batch_size: int, num_workers: int, seed: int = 0, epoch: int | None = None
) -> DataLoader:
    """Batches in order, or (``epoch`` given) shuffled by a generator seeded with (seed, epoch), so a resume
    replays the order; a shuffled epoch drops a last batch of one volume (it breaks training BatchNorm)."""
    generator = None
    drop_last = False
    if epoch is not None:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        drop_last = len(dataset) % batch_size == 1
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=epoch is not None,
        generator=generator,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )


def rng_state() -> dict[str, Any]:
    """torch's CPU and CUDA generator states, for a checkpoint."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["cpu"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated on CUDA, else the process's peak resident memory (MiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def device_name(device: torch.device) -> str:
    """The GPU's name, or ``cpu (<processor>)``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()})"


def run_record(device: torch.device, wall_seconds: float) -> dict[str, Any]:
    """The run.json fields every training run shares: time, peak memory, device and software versions."""
    return {
        "wall_seconds": wall_seconds,
        "peak_memory_mb": peak_memory_mb(device),
        "device": device_name(device),
        "versions": {**package_versions(*VERSIONED_PACKAGES), "cuda": torch.version.cuda or ""},
    }


class Checkpoint:
    """The resumable state of one run at ``path``, tied to its settings (and ``identity``, e.g. the fold).

    Written atomically (loadable with ``weights_only=True``); a resume with other settings — beyond
    :data:`RESUMABLE_CHANGES` — or another identity is refused.
    """

    def __init__(self, path: Path, settings: Any, identity: dict[str, Any] | None = None) -> None:
        self.path = path
        self.settings = dataclasses.asdict(settings)
        self.identity = identity or {}

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The saved state, None when there is none; refused when written with other settings."""
        if not self.path.exists():
            return None
        saved = torch.load(self.path, map_location=device, weights_only=True)
        changed = sorted(
            k for k, v in self.settings.items() if saved["settings"].get(k) != v and k not in RESUMABLE_CHANGES
        )
        changed += [k for k, v in self.identity.items() if saved.get(k) != v]
        if changed:
            raise NeuropeftError(f"{self.path} was written with other settings ({changed}); delete it to restart")
        return saved

    def save(self, payload: dict[str, Any]) -> None:
        """Atomically write ``payload`` with the settings and identity."""
        with atomic_path(self.path) as tmp:
            torch.save({**payload, "settings": self.settings, **self.identity}, tmp)

    def remove(self) -> None:
        """Delete the checkpoint once the run's outputs are written (there may be none: ``checkpoint_seconds``)."""
        self.path.unlink(missing_ok=True)


@dataclass
class Validation:
    """One epoch's validation: loss and task metric (NaN when the task has none)."""

    loss: float
    metric: float


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without improvement of the validation and keep the best weights.

    ``monitor`` "metric": the metric decides (``higher_is_better``), ties and NaNs fall back to the loss;
    ``monitor`` "loss": the loss alone.
    """

    patience: int
    monitor: str = "metric"
    higher_is_better: bool = True

    def improved(self, validation: Validation, best: dict[str, Any]) -> bool:
        """Whether ``validation`` beats ``best`` (its epoch, metric and loss)."""
        metric, loss = validation.metric, validation.loss
        if best["epoch"] < 0:
            return True
        if self.monitor == "loss" or math.isnan(metric) or math.isnan(best["metric"]):
            return loss < best["loss"]
        if metric == best["metric"]:
            return loss < best["loss"]
        return metric > best["metric"] if self.higher_is_better else metric < best["metric"]

    def initial(self, weights: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The state before the first epoch (part of the checkpoint)."""
        return {"best": {"epoch": -1, "metric": float("nan"), "loss": float("inf")}, "stale": 0, "best_state": weights}

    def update(self, state: dict[str, Any], epoch: int, validation: Validation, weights: Callable[[], dict]) -> None:
        """Record epoch ``epoch`` (0-based) in ``state``: best epoch and weights, stale count, stop flag."""
        if self.improved(validation, state["best"]):
            state["best"] = {"epoch": epoch + 1, "metric": validation.metric, "loss": validation.loss}
            state["best_state"] = {k: v.detach().clone() for k, v in weights().items()}
            state["stale"] = 0
        else:
            state["stale"] += 1
        state["stopped"] = state["stale"] >= self.patience


class LoopSettings(Protocol):
    """The settings fields the loop reads (ExperimentSettings and PretrainSettings have them)."""

    epochs: int
    grad_clip: float
    max_epochs_this_run: int
    checkpoint_seconds: float  # least time between two checkpoints (0 = every epoch)


def full_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``model`` (the default state a checkpoint keeps)."""
    return model.state_dict()


def load_full_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load what :func:`full_state` returned, strictly."""
    model.load_state_dict(state)


@dataclass
class Epochs:
    """What one epoch is, as the caller describes it.

    ``batches(epoch)``: the epoch's training batches (a resume replays the same ones);
    ``batch_loss(batch)``: the loss of one batch and its number of items (autocast is the caller's);
    ``validate()``: the validation after the epoch's steps, if any; ``label``: progress bar prefix.
    """

    batches: Callable[[int], Iterable[Any]]
    batch_loss: Callable[[Any], tuple[torch.Tensor, int]]
    validate: Callable[[], Validation] | None = None
    label: str = "train"


@dataclass
class LoopResult:
    """A finished run: its history, epochs, early-stopping outcome and time spent."""

    history: list[dict[str, Any]]
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    previous_seconds: float
    started: float

    def wall_seconds(self) -> float:
        """Seconds spent by this run over all its invocations, up to now."""
        return self.previous_seconds + time.time() - self.started


@dataclass
class _Run:
    """The loop's moving parts (private to this module)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    params: list


def _train_epoch(run: _Run, epochs: Epochs, epoch: int, settings: LoopSettings) -> tuple[float, Validation | None]:
    """One epoch of optimiser steps (then the validation) under a progress bar; the mean training loss."""
    run.model.train()
    total, count = 0.0, 0
    bar = tqdm(
        epochs.batches(epoch),
        desc=f"{epochs.label} epoch {epoch + 1}/{settings.epochs}",
        file=sys.stderr,
        leave=True,
        dynamic_ncols=True,
    )
    for batch in bar:
        loss, n = epochs.batch_loss(batch)
        optimiser_step(loss, run.optimizer, run.scheduler, run.params, settings.grad_clip)
        total, count = total + loss.item() * n, count + n
        bar.set_postfix(loss=f"{total / count:.4f}")
    validation = epochs.validate() if epochs.validate else None
    if validation is not None:
        bar.set_postfix(
            loss=f"{total / max(count, 1):.4f}",
            val_loss=f"{validation.loss:.4f}",
            val_metric=f"{validation.metric:.4f}",
        )
    bar.close()
    return total / max(count, 1), validation


def _history_row(
    epoch: int, train_loss: float, validation: Validation | None, lr: float, tick: float
) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss}
    if validation is not None:
        row.update(val_loss=validation.loss, val_metric=validation.metric)
    return {**row, "lr": lr, "seconds": time.time() - tick}


def _resume(
    run: _Run,
    checkpoint: Checkpoint,
    state: dict[str, Any],
    device: torch.device,
    load_state: Callable[[nn.Module, dict], None],
) -> dict[str, Any]:
    """``state`` as the checkpoint left it (weights, optimiser, schedule and RNG restored), or as given."""
    saved = checkpoint.load(device)
    if saved is None:
        return state
    load_state(run.model, saved["model"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    set_rng_state(saved["rng"])
    return {k: saved.get(k, v) for k, v in state.items()}


def _checkpoint_due(
    settings: LoopSettings, state: dict[str, Any], epochs_done: int, every: float, saved: float
) -> bool:
    """Whether the epoch just run ends with a checkpoint: always when ``every`` is 0; otherwise not
    after the last epoch, and when this invocation pauses or ``every`` seconds have passed since ``saved``."""
    if every <= 0:
        return True
    if state["epoch"] >= settings.epochs or state["stopped"]:
        return False
    pausing = bool(settings.max_epochs_this_run) and epochs_done >= settings.max_epochs_this_run
    return pausing or time.time() - saved >= every


def run_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epochs: Epochs,
    settings: LoopSettings,
    checkpoint: Checkpoint,
    device: torch.device,
    *,
    early_stopping: EarlyStopping | None = None,
    state_of: Callable[[nn.Module], dict] = full_state,
    load_state: Callable[[nn.Module, dict], None] = load_full_state,
    started: float | None = None,
) -> LoopResult | None:
    """Run ``settings.epochs`` epochs (fewer when early stopping says so), resuming from ``checkpoint``.

    The checkpoint keeps ``state_of(model)``, the optimiser, the schedule and the RNG after every epoch,
    or, with ``settings.checkpoint_seconds`` > 0, after the first epoch that ends that long after the
    last checkpoint (or the invocation's start) and when ``max_epochs_this_run`` pauses the run, not
    after the last epoch (the caller writes its outputs next); a resume replays the epochs since.
    Returns None when ``settings.max_epochs_this_run`` stopped this invocation (checkpoint kept); else
    the result, with the best epoch's weights loaded back when early stopping is on. ``started``: when
    the invocation began (default now), for the recorded wall time.
    """
    started = time.time() if started is None else started
    run = _Run(model, optimizer, scheduler, [p for group in optimizer.param_groups for p in group["params"]])
    state: dict[str, Any] = {"epoch": 0, "history": [], "stopped": False, "elapsed": 0.0}
    if early_stopping is not None:
        state.update(early_stopping.initial(state_of(model)))
    state = _resume(run, checkpoint, state, device, load_state)
    previous_seconds, run_epochs_done = state["elapsed"], 0
    every, saved = settings.checkpoint_seconds, time.time()
    while state["epoch"] < settings.epochs and not state["stopped"]:
        if settings.max_epochs_this_run and run_epochs_done >= settings.max_epochs_this_run:
            return None
        epoch, tick = state["epoch"], time.time()
        train_loss, validation = _train_epoch(run, epochs, epoch, settings)
        state["history"].append(_history_row(epoch, train_loss, validation, optimizer.param_groups[0]["lr"], tick))
        if early_stopping is not None and validation is not None:
            early_stopping.update(state, epoch, validation, lambda: state_of(model))
        state["epoch"] = epoch + 1
        state["elapsed"] = previous_seconds + time.time() - started
        run_epochs_done += 1
        if not _checkpoint_due(settings, state, run_epochs_done, every, saved):
            continue
        checkpoint.save(
            {
                **state,
                "model": state_of(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
            }
        )
        saved = time.time()
    if early_stopping is not None:
        load_state(model, state["best_state"])
    best = state.get("best", {"epoch": -1})["epoch"]
    return LoopResult(state["history"], state["epoch"], best, state["stopped"], previous_seconds, started)
