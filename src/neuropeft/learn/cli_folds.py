"""``neuropeft folds``: subject-wise stratified cross-validation folds with validation splits."""

from __future__ import annotations

import argparse

from neuropeft.atomic import write_tsv
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.settings import add_settings_argument, parse_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the folds step."""
    parser.add_argument("--index", required=True, help="model_input.tsv (row, participant_id, session, target, site)")
    parser.add_argument("--out", required=True, help="folds.tsv to write (participant_id, session, fold, role)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute, check and write the folds table."""
    settings = parse_settings(FoldSettings, args.settings)
    write_tsv(make_folds(read_index(args.index), settings), args.out)
