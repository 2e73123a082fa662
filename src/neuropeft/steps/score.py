"""metrics with a bootstrap CI of one predictions table (e.g. an ensemble on an external set)"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft score``."""
    parser.add_argument(
        "--predictions", required=True, type=Path, help="predictions.tsv (y_true, y_pred, prob_<class> ...)"
    )
    parser.add_argument("--name", required=True, help="what is scored, recorded in the summary (e.g. EXP/ensemble)")
    parser.add_argument("--out", required=True, type=Path, help="output summary JSON")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Score the predictions and write the summary."""
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.metrics.score import score_file
    from neuropeft.settings import parse_settings

    score_file(args.predictions, args.name, args.out, parse_settings(MetricsSettings, args.settings))
