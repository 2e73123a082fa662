"""build the cohort QC table: flag subjects outside the QC limits, robust outlier z-scores"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-table``."""
    parser.add_argument(
        "--metrics", nargs="+", required=True, type=Path, help="qc-metrics JSONs, one per subject and modality"
    )
    parser.add_argument("--out", required=True, type=Path, help="output QC table (TSV)")
    parser.add_argument(
        "--out-excluded",
        type=Path,
        help="output TSV of the subjects QC leaves out (participant_id, session, stem, step, reason)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Build and write the QC table (and the excluded subjects)."""
    from neuropeft.preproc.qc_table import QCTableSettings, run
    from neuropeft.settings import parse_settings

    run(args.metrics, args.out, args.out_excluded, parse_settings(QCTableSettings, args.settings))
