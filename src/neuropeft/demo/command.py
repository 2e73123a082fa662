"""``neuropeft demo-cohort --out DIR --settings JSON [--threads N]``: synthesise the demo cohort."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.demo.cohort import make_demo_cohort
from neuropeft.demo.settings import DemoSettings
from neuropeft.errors import NeuropeftError
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``demo-cohort`` step."""
    parser.add_argument("--out", required=True, type=Path, help="output folder; gets bids/ and truth/")
    parser.add_argument("--threads", type=int, default=1, help="worker processes (one subject each at a time)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Write the cohort under ``--out``."""
    settings = parse_settings(DemoSettings, args.settings)
    if args.threads < 1:
        raise NeuropeftError(f"--threads must be >= 1, got {args.threads}")
    if args.out.exists() and not args.out.is_dir():
        raise NeuropeftError(f"--out {args.out} is a file; give a folder path")
    make_demo_cohort(args.out, settings, workers=args.threads)
