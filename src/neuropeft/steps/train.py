"""fine-tune one experiment (backbone × method × head) on one fold"""

from __future__ import annotations

import argparse

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the train step."""
    parser.add_argument("--array", required=True, help="model_input.npy, float32 (N, C, X, Y, Z), memory-mapped")
    parser.add_argument("--index", required=True, help="model_input.tsv (row, participant_id, session, target, site)")
    parser.add_argument("--folds", required=True, help="folds.tsv from `neuropeft folds`")
    parser.add_argument(
        "--fold", required=True, type=int, help="fold number to train (its test subjects are predicted)"
    )
    parser.add_argument(
        "--out-dir", required=True, help="output folder (predictions.tsv, history.tsv, run.json, weights)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--init-checkpoint", default="", help="foundation checkpoint for the backbone (overrides settings init)"
    )
    parser.add_argument(
        "--covariates-table", default="", help="participants.tsv holding the experiment's covariates (if it has any)"
    )
    parser.add_argument(
        "--source-model",
        default="",
        help="a cross_modal experiment: the fold folder of the experiment it adapts (its run.json and weights)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Train (resuming from OUT_DIR/checkpoint.pt if present) and write the fold's outputs."""
    from pathlib import Path

    from neuropeft.learn.experiment import ExperimentSettings
    from neuropeft.learn.loop import select_device
    from neuropeft.learn.train import train_fold
    from neuropeft.settings import parse_settings

    settings = parse_settings(ExperimentSettings, args.settings)
    train_fold(
        Path(args.array),
        Path(args.index),
        Path(args.folds),
        args.fold,
        Path(args.out_dir),
        settings,
        select_device(args.device),
        args.init_checkpoint,
        Path(args.covariates_table) if args.covariates_table else None,
        Path(args.source_model) if args.source_model else None,
    )
