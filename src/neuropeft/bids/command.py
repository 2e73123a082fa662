"""``neuropeft validate``: validate a BIDS dataset; write the cohort table and excluded.tsv."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neuropeft.atomic import write_tsv
from neuropeft.bids.index import MODALITIES, load_cohort
from neuropeft.bids.problems import format_problems
from neuropeft.errors import NeuropeftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's arguments."""
    parser.add_argument("--bids-dir", required=True, help="BIDS dataset root")
    parser.add_argument("--target", required=True, help="participants.tsv column to predict")
    parser.add_argument("--modalities", nargs="+", required=True, choices=MODALITIES, help="images every row must have")
    parser.add_argument("--site-column", default="site", help="participants.tsv column with the site ('' or absent: none)")
    parser.add_argument("--run-policy", default="last", help="run to use when there are several: last | first | <run number>")
    parser.add_argument("--bids-filters", default="{}", help='JSON: the acquisition to use per modality, e.g. {"dwi": {"acq": "b1000"}}')
    parser.add_argument("--on-invalid", choices=("exclude", "stop"), default="exclude",
                        help="exclude: drop (subject, session) rows with problems; stop: fail listing every problem")
    parser.add_argument("--out-cohort", required=True, help="cohort table to write (TSV)")
    parser.add_argument("--out-excluded", required=True, help="excluded rows and reasons to write (TSV)")
    parser.add_argument("--cache-dir", default=None, help="index cache folder (default: .bids-index beside --out-cohort)")


def main(args: argparse.Namespace) -> None:
    """Validate, report every problem (stderr, one line each), write both tables."""
    cache_dir = args.cache_dir or Path(args.out_cohort).parent / ".bids-index"
    cohort = load_cohort(args.bids_dir, cache_dir, args.target, args.modalities, args.site_column, args.run_policy,
                         _filters(args.bids_filters))
    if cohort.problems:
        if args.on_invalid == "exclude":
            print(f"neuropeft validate: {cohort.summary()} (reasons below and in {args.out_excluded})", file=sys.stderr)
        label = "error" if args.on_invalid == "stop" else "warning"
        for line in format_problems(cohort.problems).splitlines():
            print(f"neuropeft validate: {label}: {line}", file=sys.stderr)
        if args.on_invalid == "stop":
            raise NeuropeftError(
                f"{len(cohort.problems)} problem(s) in {args.bids_dir} (listed above); fix them or use --on-invalid exclude"
            )
    if cohort.rows.empty:
        raise NeuropeftError(f"no usable (subject, session) in {args.bids_dir}: {cohort.summary()} (reasons above); fix the dataset")
    write_tsv(cohort.rows, args.out_cohort)
    write_tsv(cohort.excluded, args.out_excluded)
    print(
        f"neuropeft validate: {len(cohort.rows)} row(s) kept, {len(cohort.excluded)} excluded; "
        f"target {args.target!r} looks {cohort.target_kind}",
        file=sys.stderr,
    )


def _filters(text: str) -> dict[str, object]:
    """``--bids-filters`` as a mapping (its content is checked by ``load_cohort``)."""
    try:
        filters = json.loads(text)
    except ValueError as error:
        raise NeuropeftError(f"--bids-filters {text!r} is not JSON ({error}); pass e.g. '{{\"dwi\": {{\"acq\": \"b1000\"}}}}'") from None
    if not isinstance(filters, dict):
        raise NeuropeftError(f"--bids-filters {text!r} must be a JSON object of modality -> {{entity: value}}")
    return filters
