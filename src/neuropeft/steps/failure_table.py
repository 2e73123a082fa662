"""the table of subjects that failed a step (and were dropped), for the report"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``failure-table`` step."""
    parser.add_argument(
        "--failures", required=True, help="JSON list of failures (participant_id, session, stem, step, reason)"
    )
    parser.add_argument("--out", required=True, help="TSV to write")


def main(args: argparse.Namespace) -> None:
    """Write the failures table."""
    from neuropeft.failure_table import write_failure_table

    write_failure_table(args.failures, args.out)
