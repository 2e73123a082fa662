"""print trainable and total parameters of a backbone × method × head"""

from __future__ import annotations

import argparse


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
    from neuropeft.learn.param_counts import format_counts, parameter_counts

    print(
        format_counts(
            parameter_counts(
                args.backbone,
                args.method,
                args.head,
                args.in_channels,
                args.num_classes,
                args.rank,
                args.shape,
                args.head_hidden,
                args.lora_targets,
            )
        )
    )
