"""record the run's whole configuration (seeds included) and package versions"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``record-run`` step."""
    parser.add_argument("--config", required=True, help="the workflow's whole configuration as JSON")
    parser.add_argument("--out", required=True, help="JSON file to write")


def main(args: argparse.Namespace) -> None:
    """Write the record."""
    from neuropeft.run_record import write_run_record

    write_run_record(args.config, args.out)
