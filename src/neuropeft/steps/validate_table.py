"""validate an images table (images prepared elsewhere); write the cohort table and excluded.tsv"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's arguments."""
    parser.add_argument(
        "--table",
        required=True,
        type=Path,
        help="TSV: path or path_<channel> columns, the target, optional participant_id, session, site, split",
    )
    parser.add_argument("--target", required=True, help="table column holding the prediction target")
    parser.add_argument("--site-column", default="site", help="table column naming the site (absent: none)")
    parser.add_argument(
        "--task",
        choices=("classification", "regression", "survival"),
        default="regression",
        help="classification also needs every class in a fixed split's val and test rows",
    )
    parser.add_argument("--event-column", default="", help="task survival: the event column (--target: the time)")
    parser.add_argument("--covariates", nargs="*", default=[], help="columns every row needs a value in (kept)")
    parser.add_argument("--out-cohort", required=True, type=Path, help="valid rows to write (TSV, absolute paths)")
    parser.add_argument("--out-excluded", required=True, type=Path, help="excluded rows and reasons to write (TSV)")


def main(args: argparse.Namespace) -> None:
    """Validate, report every problem (stderr, one line each), write both tables."""
    from neuropeft.preproc.images_table import validate_table

    validate_table(
        args.table,
        args.target,
        args.site_column,
        args.task,
        args.out_cohort,
        args.out_excluded,
        args.event_column,
        args.covariates,
    )
