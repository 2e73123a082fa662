"""plot a metric against the fraction of training data used"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft plot-fractions``."""
    parser.add_argument(
        "--summaries",
        required=True,
        nargs="+",
        type=Path,
        help="summary.json of each experiment of the ablation (each with a train_fraction)",
    )
    parser.add_argument("--out-png", required=True, type=Path, help="figure (PNG)")
    parser.add_argument("--out-svg", required=True, type=Path, help="figure (SVG)")
    parser.add_argument("--out-tsv", required=True, type=Path, help="the plotted points (TSV)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Plot and write the figure and its points."""
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.metrics.fractions import plot_fractions
    from neuropeft.settings import parse_settings

    plot_fractions(
        args.summaries, args.out_png, args.out_svg, args.out_tsv, parse_settings(MetricsSettings, args.settings)
    )
