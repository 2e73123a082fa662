"""index and validate a BIDS dataset; write the cohort table and excluded.tsv"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's arguments."""
    from neuropeft.bids.index import MODALITIES
    from neuropeft.workflow import ON_INVALID

    parser.add_argument("--bids-dir", required=True, help="BIDS dataset root")
    parser.add_argument("--target", required=True, help="participants.tsv column to predict")
    parser.add_argument("--modalities", nargs="+", required=True, choices=MODALITIES, help="images every row must have")
    parser.add_argument(
        "--optional-modalities",
        nargs="*",
        default=[],
        choices=MODALITIES,
        help="of --modalities, those a row may lack (kept; its fields of them are empty)",
    )
    parser.add_argument(
        "--site-column", default="site", help="participants.tsv column with the site ('' or absent: none)"
    )
    parser.add_argument(
        "--run-policy", default="last", help="run to use when there are several: last | first | <run number>"
    )
    parser.add_argument(
        "--bids-filters", default="{}", help='JSON: the acquisition to use per modality, e.g. {"dwi": {"acq": "b1000"}}'
    )
    parser.add_argument(
        "--on-invalid",
        choices=ON_INVALID,
        default="exclude",
        help="exclude: drop (subject, session) rows with problems; stop: fail listing every problem",
    )
    parser.add_argument(
        "--event-column", default="", help="task survival: participants.tsv column of the event (--target: the time)"
    )
    parser.add_argument(
        "--covariates", nargs="*", default=[], help="participants.tsv columns every row needs a value in"
    )
    parser.add_argument("--out-cohort", required=True, help="cohort table to write (TSV)")
    parser.add_argument("--out-excluded", required=True, help="excluded rows and reasons to write (TSV)")
    parser.add_argument(
        "--cache-dir", default=None, help="index cache folder (default: .bids-index beside --out-cohort)"
    )


def main(args: argparse.Namespace) -> None:
    """Validate, report every problem (stderr, one line each), write both tables."""
    from neuropeft.bids.validate import validate_cohort

    validate_cohort(
        args.bids_dir,
        args.target,
        args.modalities,
        args.out_cohort,
        args.out_excluded,
        site_column=args.site_column,
        run_policy=args.run_policy,
        bids_filters=args.bids_filters,
        on_invalid=args.on_invalid,
        cache_dir=args.cache_dir,
        event_column=args.event_column,
        covariates=args.covariates,
        optional_modalities=args.optional_modalities,
    )
