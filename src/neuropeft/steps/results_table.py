"""the comparison of a run as a Markdown table naming its commit and machine; rewrites the README's demo table"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the results-table step."""
    parser.add_argument("--results", default="results", type=Path, help="the run's results folder")
    parser.add_argument(
        "--readme",
        type=Path,
        help="replace the table between its results-table markers in this file (else print the table)",
    )


def main(args: argparse.Namespace) -> None:
    """Print the table, or write it into the README."""
    from neuropeft.metrics.results_table import replace_block, results_block

    block = results_block(args.results)
    if args.readme is None:
        print(block, end="")
    else:
        replace_block(args.readme, block)
