"""predict a multi-modal fold model's test subjects with each set of modalities (the others absent)"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft predict-inputs``."""
    parser.add_argument("--array", required=True, type=Path, help="the cohort stack the fold was trained on")
    parser.add_argument("--index", required=True, type=Path, help="its index TSV")
    parser.add_argument("--folds", required=True, type=Path, help="folds.tsv the fold was trained with")
    parser.add_argument("--model-dir", required=True, type=Path, help="trained fold folder (run.json and weights)")
    parser.add_argument(
        "--out", required=True, type=Path, help="TSV: predictions.tsv columns plus input and present, per input set"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def main(args: argparse.Namespace) -> None:
    """Rebuild the fold model and write its test predictions for every input set."""
    from neuropeft.learn.input_predictions import write_input_predictions
    from neuropeft.learn.loop import select_device

    write_input_predictions(args.array, args.index, args.folds, args.model_dir, args.out, select_device(args.device))
