"""compare experiments by input modalities: the metric on each set of modalities, trainable parameters"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft modality-table``."""
    parser.add_argument(
        "--fold-dirs", nargs="+", required=True, type=Path, help="fold folders (predictions_by_input.tsv, run.json)"
    )
    parser.add_argument("--out-tsv", required=True, type=Path, help="the table (one row per experiment)")
    parser.add_argument("--out-md", required=True, type=Path, help="the same table in Markdown, for the report")
    parser.add_argument("--decimals", type=int, default=3, help="decimals of the metrics in the Markdown table")


def main(args: argparse.Namespace) -> None:
    """Read every fold's input predictions and write the table."""
    from neuropeft.metrics.modality_table import write_modality_table

    write_modality_table(args.fold_dirs, args.out_tsv, args.out_md, args.decimals)
