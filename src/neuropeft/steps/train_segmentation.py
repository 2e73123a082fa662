"""fine-tune a segmentation model on one fold; write its test subjects' label maps and Dice/HD95"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft train-segmentation``."""
    parser.add_argument("--array", required=True, type=Path, help="model_input.npy (N, C, X, Y, Z)")
    parser.add_argument("--labels", required=True, type=Path, help="labels.npy (N, X, Y, Z) class numbers")
    parser.add_argument("--classes", required=True, type=Path, help="classes.tsv (class, name) of classes 1..K-1")
    parser.add_argument("--index", required=True, type=Path, help="model_input.tsv (row, participant_id, session, ...)")
    parser.add_argument("--folds", required=True, type=Path, help="folds.tsv")
    parser.add_argument("--fold", required=True, type=int, help="the fold to train")
    parser.add_argument("--voxel-mm", required=True, type=float, help="the model grid's voxel size (HD95 in mm)")
    parser.add_argument("--out-dir", required=True, type=Path, help="the fold's output folder")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="training device")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Train, predict the test subjects, score them and write the fold's outputs."""
    from neuropeft.learn.loop import select_device
    from neuropeft.segment.fold import run_fold
    from neuropeft.segment.train import SegmentationSettings
    from neuropeft.settings import parse_settings

    run_fold(
        args.array,
        args.labels,
        args.classes,
        args.index,
        args.folds,
        args.fold,
        args.out_dir,
        parse_settings(SegmentationSettings, args.settings),
        args.voxel_mm,
        select_device(args.device),
    )
