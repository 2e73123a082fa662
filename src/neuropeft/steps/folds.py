"""subject-wise stratified cross-validation folds with inner validation splits"""

from __future__ import annotations

import argparse

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the folds step."""
    parser.add_argument("--index", required=True, help="model_input.tsv (row, participant_id, session, target, site)")
    parser.add_argument("--out", required=True, help="folds.tsv to write (participant_id, session, fold, role)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Compute, check and write the folds table."""
    from neuropeft.learn.folds import FoldSettings, write_folds
    from neuropeft.settings import parse_settings

    write_folds(args.index, args.out, parse_settings(FoldSettings, args.settings))
