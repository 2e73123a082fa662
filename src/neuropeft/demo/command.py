"""``neuropeft demo-cohort --out DIR --settings JSON [--threads N | --subject ID | --dataset-only]``.

Synthesises the demo cohort: all of it, one subject, or only the dataset-level files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.demo.cohort import make_demo_cohort, write_dataset_files, write_demo_subject
from neuropeft.demo.settings import DemoSettings
from neuropeft.errors import NeuropeftError
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``demo-cohort`` step."""
    parser.add_argument("--out", required=True, type=Path, help="output folder; gets bids/ and truth/")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (one subject each at a time)")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--subject", help="write only this subject (e.g. sub-003)")
    part.add_argument("--dataset-only", action="store_true", help="write only participants.tsv and the other dataset files")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Write the cohort, one subject, or the dataset files under ``--out``."""
    settings = parse_settings(DemoSettings, args.settings)
    if args.threads < 1:
        raise NeuropeftError(f"--threads must be >= 1, got {args.threads}")
    if args.out.exists() and not args.out.is_dir():
        raise NeuropeftError(f"--out {args.out} is a file; give a folder path")
    if args.subject:
        write_demo_subject(args.out, settings, args.subject)
    elif args.dataset_only:
        write_dataset_files(args.out, settings)
    else:
        make_demo_cohort(args.out, settings, workers=args.threads)
