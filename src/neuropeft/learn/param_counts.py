"""``neuropeft params``: trainable and total parameters of a backbone × method × head, without training."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.methods import ParamCounts, apply_method, count_parameters
from neuropeft.learn.model import build_model

DEFAULT_SHAPE = {"sam-med3d": 128, "sam-med3d-tiny": 32, "vit-b": 80, "vit-s": 80, "vit-tiny": 32}


def parameter_counts(
    backbone: str,
    method: str,
    head: str,
    in_channels: int = 1,
    num_classes: int = 2,
    rank: int = 8,
    shape: int = 0,
    head_hidden: int = 256,
    lora_targets: str = "",
    lora_blocks: Sequence[int] = (),
) -> ParamCounts:
    """Counts for one configuration, built on the meta device (no memory for weights)."""
    side = shape or DEFAULT_SHAPE.get(backbone, 64)
    settings = dataclasses.replace(
        ExperimentSettings(),
        backbone=backbone,
        method=method,
        head=head,
        lora_rank=rank,
        lora_targets=lora_targets,
        lora_blocks=list(lora_blocks),
    )
    with torch.device("meta"):
        model = build_model(backbone, head, in_channels, (side,) * 3, num_classes, head_hidden)
        return count_parameters(apply_method(model, settings))


def format_counts(counts: ParamCounts) -> str:
    """The counts as ``name<TAB>value`` lines (what ``neuropeft params`` prints)."""
    return "\n".join(
        [
            f"trainable_params\t{counts.trainable}",
            f"total_params\t{counts.total}",
            f"base_params\t{counts.base}",
            f"adapter_params\t{counts.adapters}",
            f"head_params\t{counts.head}",
            f"base_over_trainable\t{counts.base / counts.trainable:.2f}",
        ]
    )
