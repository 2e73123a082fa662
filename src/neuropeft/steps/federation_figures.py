"""a federated experiment's figures: test AUC per site (bootstrap CI) and aggregation weights per round"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the federation-figures step."""
    parser.add_argument("--experiment", required=True, help="the federated experiment's name (figure titles)")
    parser.add_argument(
        "--fold-dirs",
        required=True,
        nargs="+",
        type=Path,
        help="its fold folders (predictions.tsv, client_weights.tsv)",
    )
    parser.add_argument(
        "--out-dir", required=True, type=Path, help="writes site_auc.tsv, site_auc.png, client_weights.png"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Write the figures."""
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.metrics.federation import federation_figures
    from neuropeft.settings import parse_settings

    federation_figures(args.fold_dirs, args.experiment, args.out_dir, parse_settings(MetricsSettings, args.settings))
