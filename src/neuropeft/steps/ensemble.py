"""average several models' predictions of the same subjects (class probabilities or values)"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft ensemble``."""
    parser.add_argument(
        "--predictions",
        required=True,
        nargs="+",
        type=Path,
        help="predictions TSVs of the same subjects (e.g. every fold model on an external set)",
    )
    parser.add_argument(
        "--run-jsons",
        nargs="*",
        type=Path,
        default=[],
        help="the models' run.json files: two classes are called at the mean of their fitted thresholds",
    )
    parser.add_argument("--out", required=True, type=Path, help="ensemble predictions TSV (fold = ensemble)")


def main(args: argparse.Namespace) -> None:
    """Run the step."""
    from neuropeft.metrics.ensemble import ensemble_files

    ensemble_files(args.predictions, args.out, args.run_jsons)
