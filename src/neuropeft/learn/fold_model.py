"""The model of one experiment's fold: built for training, rebuilt from its weights, run over a loader.

Shared by training (learn/train.py) and scoring (learn/predict.py); predictions.tsv rows are made here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from neuropeft.learn.calibration import call, corrected_gap
from neuropeft.learn.data import ModelInput
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.loop import autocast
from neuropeft.learn.methods import apply_method, load_weights
from neuropeft.learn.model import build_model
from neuropeft.learn.tasks import Task, normalise_label
from neuropeft.outcomes import parse_outcomes

#: index targets that mean "unknown" (external test sets without labels)
UNKNOWN_TARGETS = ("", "n/a")


def base_model(
    settings: ExperimentSettings,
    in_channels: int,
    shape: tuple[int, ...],
    out_features: int,
    init: str,
    n_covariates: int = 0,
) -> nn.Module:
    """Backbone (random or from ``init``) + head (taking ``n_covariates`` encoded covariates beside the
    image features), before the method; seeded by ``settings.seed``."""
    torch.manual_seed(settings.seed)
    model = build_model(
        settings.backbone,
        settings.head,
        in_channels,
        shape,
        out_features,
        settings.head_hidden,
        settings.head_dropout,
        settings.head_norm,
        n_covariates,
    )
    if init != "random" and settings.method != "scratch":
        model.backbone.load_pretrained(init, settings.checkpoint_sha256)
    return model


def make_model(
    settings: ExperimentSettings,
    in_channels: int,
    shape: tuple[int, ...],
    out_features: int,
    init: str,
    n_covariates: int = 0,
) -> nn.Module:
    """Backbone (random or from ``init``) + head, with the method applied; seeded by ``settings.seed``."""
    return apply_method(base_model(settings, in_channels, shape, out_features, init, n_covariates), settings)


def load_trained_model(
    out_dir: Path,
    settings: ExperimentSettings,
    in_channels: int,
    shape: tuple[int, ...],
    out_features: int,
    init: str = "random",
    n_covariates: int = 0,
) -> nn.Module:
    """The trained model of ``out_dir`` rebuilt from its base (same seed and init) and saved weights."""
    model = base_model(settings, in_channels, shape, out_features, init, n_covariates)
    return load_weights(model, settings.method, out_dir)


def uses_channels_last(backbone: str, device: torch.device) -> bool:
    """Whether the model runs in channels-last 3D memory layout (convolutional backbones on CUDA)."""
    return device.type == "cuda" and backbone.startswith(("resnet", "fmcib"))


def to_device(x: ModelInput, device: torch.device, channels_last: bool) -> ModelInput:
    """A batch on ``device`` (volumes, or volumes and covariates), the volumes in channels-last layout when asked."""
    if isinstance(x, (list, tuple)):
        volumes, covariates = x
        return to_device(volumes, device, channels_last), covariates.to(device, non_blocking=True)
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw outputs (float32, CPU) and encoded targets for every item, in order."""
    model.eval()
    outputs, targets = [], []
    for x, y, _ in loader:
        with autocast(device):
            outputs.append(model(to_device(x, device, channels_last)).float().cpu())
        targets.append(y)
    return torch.cat(outputs), torch.cat(targets)


def predictions_frame(
    table: pd.DataFrame,
    fold: int | str,
    task: Task,
    decoded: np.ndarray,
    threshold: float | None = None,
    bias: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """predictions.tsv rows of ``table``'s subjects; an unknown target ("" or "n/a") leaves y_true empty.
    Two classes are called at ``threshold`` (the fold's, fitted on validation; None: the argmax); a
    regression adds the gap (y_pred − y_true, the brain-age gap) and the gap corrected for the fold's
    age ``bias`` (fitted on validation; :func:`~neuropeft.learn.calibration.fit_prediction_bias`); survival
    writes the outcome as time and event beside the predicted risk (log hazard ratio)."""
    frame = table[["participant_id", "session"]].copy()
    frame["fold"] = fold
    known = ~table["target"].astype(str).isin(UNKNOWN_TARGETS)
    if task.kind == "classification":
        frame["y_true"] = [normalise_label(t) if k else "" for t, k in zip(table["target"], known, strict=False)]
        for k, name in enumerate(task.classes):
            frame[f"prob_{name}"] = decoded[:, k]
        frame["y_pred"] = [task.classes[k] for k in call(decoded, threshold)]
    elif task.kind == "survival":
        times, events = parse_outcomes([t if k else "nan:0" for t, k in zip(table["target"], known, strict=False)])
        frame["time"], frame["risk"] = times, decoded
        frame["event"] = pd.Series(events, index=frame.index, dtype="Int64").mask(np.isnan(times))
        frame = frame[["participant_id", "session", "fold", "time", "event", "risk"]]
    else:
        frame["y_true"] = table["target"].where(known).astype(float).to_numpy()
        frame["y_pred"] = decoded
        frame["gap"] = frame["y_pred"] - frame["y_true"]
        frame["gap_corrected"] = corrected_gap(decoded, frame["y_true"].to_numpy(), bias)
    return frame
