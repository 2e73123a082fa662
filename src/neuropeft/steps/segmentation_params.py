"""print trainable and total parameters of each segmentation method on a backbone"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft segmentation-params``."""
    parser.add_argument("--backbone", default="unetr", help="unetr, swin-unetr, unetr-tiny or swin-unetr-tiny")
    parser.add_argument("--in-channels", type=int, default=1, help="input channels (default 1)")
    parser.add_argument("--classes", type=int, default=4, help="output classes, background included (default 4)")
    parser.add_argument("--shape", type=int, nargs=3, default=[96, 96, 96], help="input shape (default 96 96 96)")
    parser.add_argument("--rank", type=int, default=4, help="LoRA/DoRA rank (default 4)")
    parser.add_argument(
        "--train-decoder", action="store_true", help="LoRA/DoRA also train the whole decoder (lora_train_decoder)"
    )


def main(args: argparse.Namespace) -> None:
    """Print one tab-separated row per method."""
    from neuropeft.segment.methods import Adapters, format_method_counts, method_counts

    adapters = Adapters(rank=args.rank, train_decoder=args.train_decoder)
    print(
        format_method_counts(
            method_counts(args.backbone, args.in_channels, args.classes, args.shape, adapters=adapters)
        )
    )
