"""synthesise the built-in demo BIDS cohort with ground truth"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out DIR --settings JSON [--threads N | --subject ID [--without-dwi] | --dataset-only]``."""
    parser.add_argument("--out", required=True, type=Path, help="output folder; gets bids/ and truth/")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (one subject each at a time)")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--subject", help="write only this subject (e.g. sub-003)")
    part.add_argument(
        "--dataset-only", action="store_true", help="write only participants.tsv and the other dataset files"
    )
    parser.add_argument(
        "--without-dwi", action="store_true", help="with --subject: write the subject without its DWI files"
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Write the cohort, one subject, or the dataset files under ``--out``."""
    from neuropeft.demo.cohort import write_demo
    from neuropeft.demo.settings import DemoSettings
    from neuropeft.settings import parse_settings

    settings = parse_settings(DemoSettings, args.settings)
    write_demo(args.out, settings, args.threads, args.subject, args.dataset_only, args.without_dwi)
