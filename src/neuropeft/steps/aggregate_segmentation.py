"""Dice and HD95 of one segmentation experiment per fold and pooled, its figures and summary.json"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft aggregate-segmentation``."""
    parser.add_argument("--experiment", required=True, help="experiment name")
    parser.add_argument("--fold-dirs", required=True, nargs="+", type=Path, help="the folds' output folders")
    parser.add_argument("--array", required=True, type=Path, help="model_input.npy (images of the QC figure)")
    parser.add_argument("--labels", required=True, type=Path, help="labels.npy (references of the QC figure)")
    parser.add_argument("--qc-subjects", type=int, default=3, help="subjects in the QC figure (default 3)")
    parser.add_argument("--out-dir", required=True, type=Path, help="the experiment's metrics folder")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Aggregate the folds and write the tables, figures and summary."""
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.segment.aggregate import aggregate_segmentation
    from neuropeft.settings import parse_settings

    aggregate_segmentation(
        args.experiment,
        args.fold_dirs,
        args.array,
        args.labels,
        args.out_dir,
        parse_settings(MetricsSettings, args.settings),
        args.qc_subjects,
    )
