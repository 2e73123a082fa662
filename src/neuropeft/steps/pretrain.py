"""self-supervised pre-training (MAE, reconstruction, contrastive) writing a foundation checkpoint"""

from __future__ import annotations

import argparse

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the pretrain step."""
    parser.add_argument("--array", required=True, help="model_input.npy, float32 (N, C, X, Y, Z), memory-mapped")
    parser.add_argument(
        "--index",
        required=True,
        help="model_input.tsv (row, participant_id, ...): checked against the array; targets unused",
    )
    parser.add_argument("--out-dir", required=True, help="output folder (backbone.safetensors, history.tsv, run.json)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Pre-train (resuming from OUT_DIR/checkpoint.pt if present) and write the foundation checkpoint."""
    from pathlib import Path

    from neuropeft.learn.loop import select_device
    from neuropeft.learn.pretrain import PretrainSettings, pretrain
    from neuropeft.settings import parse_settings

    settings = parse_settings(PretrainSettings, args.settings)
    pretrain(Path(args.array), Path(args.index), Path(args.out_dir), settings, select_device(args.device))
