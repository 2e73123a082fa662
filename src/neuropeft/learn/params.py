"""``neuropeft params``: trainable and total parameters of a backbone × method × head, without training."""

from __future__ import annotations

import argparse
import dataclasses

import torch

from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.methods import ParamCounts, apply_method, count_parameters
from neuropeft.learn.model import build_model

DEFAULT_SHAPE = {"vit-b": 80, "vit-s": 80, "vit-tiny": 32}


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
) -> ParamCounts:
    """Counts for one configuration, built on the meta device (no memory for weights)."""
    side = shape or DEFAULT_SHAPE.get(backbone, 64)
    settings = dataclasses.replace(
        ExperimentSettings(), backbone=backbone, method=method, head=head, lora_rank=rank, lora_targets=lora_targets
    )
    with torch.device("meta"):
        model = build_model(backbone, head, in_channels, (side,) * 3, num_classes, head_hidden)
        return count_parameters(apply_method(model, settings))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the params step."""
    parser.add_argument("--backbone", required=True, help="backbone name (e.g. fmcib-resnet50, vit-b)")
    parser.add_argument("--method", required=True, help="lora, dora, attention, layernorm, linear_probe, full, scratch")
    parser.add_argument("--head", default="mlp", help="linear, mlp or conv (default mlp)")
    parser.add_argument("--in-channels", type=int, default=1, help="input channels (default 1)")
    parser.add_argument("--num-classes", type=int, default=2, help="model outputs (classes; 1 for regression)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA/DoRA rank (default 8)")
    parser.add_argument("--head-hidden", type=int, default=256, help="hidden width of mlp/conv heads (default 256)")
    parser.add_argument("--lora-targets", default="", help="full-name regex of adapted modules (default: backbone's)")
    parser.add_argument("--shape", type=int, default=0, help="cubic input side (default 80 for ViT-B/S, 64 else)")


def main(args: argparse.Namespace) -> None:
    """Print the counts, one per line."""
    counts = parameter_counts(
        args.backbone, args.method, args.head, args.in_channels, args.num_classes, args.rank, args.shape,
        args.head_hidden, args.lora_targets,
    )
    print(f"trainable_params\t{counts.trainable}")
    print(f"total_params\t{counts.total}")
    print(f"base_params\t{counts.base}")
    print(f"adapter_params\t{counts.adapters}")
    print(f"head_params\t{counts.head}")
    print(f"base_over_trainable\t{counts.base / counts.trainable:.2f}")
