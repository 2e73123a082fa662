"""metrics per fold and across folds of one experiment, pooled predictions, plots"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft aggregate-experiment``."""
    parser.add_argument("--experiment", required=True, help="experiment name (must match run.json's experiment)")
    parser.add_argument(
        "--fold-dirs",
        required=True,
        nargs="+",
        type=Path,
        help="fold directories holding predictions.tsv, history.tsv, run.json",
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="output directory, e.g. results/metrics/NAME")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Aggregate the experiment's folds and write the metrics and plots."""
    from neuropeft.metrics.aggregate import aggregate_experiment
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.settings import parse_settings

    aggregate_experiment(args.experiment, args.fold_dirs, args.out_dir, parse_settings(MetricsSettings, args.settings))
