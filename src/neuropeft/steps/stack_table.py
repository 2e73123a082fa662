"""resample and stack images prepared elsewhere, listed in a table, like `stack-model-input`"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft stack-table``."""
    parser.add_argument(
        "--table",
        required=True,
        type=Path,
        help="TSV: path or path_<channel> columns, target, optional participant_id, session, split, site",
    )
    parser.add_argument(
        "--target", default="target", help="table column holding the prediction target (default: target)"
    )
    parser.add_argument("--out-array", required=True, type=Path, help="output .npy, float32 (N, C, X, Y, Z)")
    parser.add_argument(
        "--out-index",
        required=True,
        type=Path,
        help="output index TSV (row, participant_id, session, target, site[, split])",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Resample and stack the table's images; write the array and its index."""
    from neuropeft.preproc.external import ExternalSettings, run
    from neuropeft.settings import parse_settings

    run(args.table, args.target, args.out_array, args.out_index, parse_settings(ExternalSettings, args.settings))
