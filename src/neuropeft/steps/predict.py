"""score every volume of a model-input array (e.g. an external test set) with one trained fold model"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the predict step."""
    parser.add_argument(
        "--array",
        required=True,
        type=Path,
        help="model_input.npy, float32 (N, C, X, Y, Z), shaped like the training input",
    )
    parser.add_argument(
        "--index",
        required=True,
        type=Path,
        help="its index TSV (row, participant_id, session, target[, site]); target may be n/a",
    )
    parser.add_argument(
        "--model-dir", required=True, type=Path, help="trained fold folder (run.json + adapter/ or weights.safetensors)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="predictions TSV (same columns as training's predictions.tsv)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="volumes per forward pass (0 = the experiment's batch_size)"
    )


def main(args: argparse.Namespace) -> None:
    """Rebuild the fold model and write its predictions of every index row."""
    from neuropeft.learn.loop import select_device
    from neuropeft.learn.predict import predict_to_file

    predict_to_file(args.array, args.index, args.model_dir, args.out, select_device(args.device), args.batch_size)
