"""comparison table of experiments: metrics, trainable parameters, time, memory"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft compare-experiments``."""
    parser.add_argument(
        "--summaries",
        required=True,
        nargs="+",
        type=Path,
        help="summary.json of each experiment (one table row each, in this order)",
    )
    runs = parser.add_mutually_exclusive_group(required=True)
    runs.add_argument("--run-jsons", nargs="+", type=Path, help="run.json of every fold of those experiments")
    runs.add_argument("--runs-glob", help="glob for the run.json files, e.g. 'results/models/*/fold-*/run.json'")
    parser.add_argument("--out-tsv", required=True, type=Path, help="comparison table (TSV, raw numeric columns too)")
    parser.add_argument("--out-md", required=True, type=Path, help="comparison table (Markdown)")
    parser.add_argument("--excluded", type=Path, help="excluded.tsv of validation: listed as left out")
    parser.add_argument("--failures", type=Path, help="failures.tsv (neuropeft failure-table): listed as left out")
    parser.add_argument(
        "--qc-excluded", type=Path, help="qc_excluded.tsv (qc-table --out-excluded): listed as left out"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Write the comparison table (TSV and Markdown)."""
    from neuropeft.metrics.config import MetricsSettings
    from neuropeft.metrics.table import compare_experiments
    from neuropeft.settings import parse_settings

    compare_experiments(
        args.summaries,
        args.run_jsons,
        args.runs_glob,
        args.out_tsv,
        args.out_md,
        parse_settings(MetricsSettings, args.settings),
        args.excluded,
        args.failures,
        args.qc_excluded,
    )
