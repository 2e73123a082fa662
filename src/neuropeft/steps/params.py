"""print trainable and total parameters of a backbone × method × head"""

from __future__ import annotations

import argparse


def block_list(text: str) -> list[int]:
    """``"2,5,8,11"`` -> [2, 5, 8, 11] (empty text: no blocks)."""
    try:
        return [int(block) for block in text.split(",") if block.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of block numbers") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the params step."""
    parser.add_argument("--backbone", required=True, help="backbone name (e.g. fmcib-resnet50, vit-b)")
    parser.add_argument("--method", required=True, help="lora, dora, attention, layernorm, linear_probe, full, scratch")
    parser.add_argument("--head", default="mlp", help="linear, mlp, conv, conv_s or conv_l (default mlp)")
    parser.add_argument("--in-channels", type=int, default=1, help="input channels (default 1)")
    parser.add_argument("--num-classes", type=int, default=2, help="model outputs (classes; 1 for regression)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA/DoRA rank (default 8)")
    parser.add_argument("--head-hidden", type=int, default=256, help="hidden width of mlp/conv heads (default 256)")
    parser.add_argument("--lora-targets", default="", help="full-name regex of adapted modules (default: backbone's)")
    parser.add_argument(
        "--lora-blocks",
        type=block_list,
        default=[],
        help="comma-separated ViT blocks LoRA/DoRA adapt, e.g. 2,5,8,11 (default: all)",
    )
    parser.add_argument(
        "--shape",
        type=int,
        default=0,
        help="cubic input side (default 128 for sam-med3d, 80 for ViT-B/S, 32 for the tiny ones, 64 else)",
    )


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
                args.lora_blocks,
            )
        )
    )
