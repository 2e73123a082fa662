"""concatenate the model-ready volumes of several modalities as channels"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft combine-channels``."""
    parser.add_argument(
        "--volumes", nargs="+", required=True, type=Path, help="model-ready volumes on one grid, in channel order"
    )
    parser.add_argument(
        "--modalities",
        nargs="+",
        default=[],
        help="with --absent: every modality in channel order (the volumes are those of the others, in order)",
    )
    parser.add_argument(
        "--absent",
        action="append",
        default=[],
        metavar="MODALITY:CHANNELS",
        help="a modality the subject lacks and its channel count (e.g. dwi:2): zeros at its place; repeatable",
    )
    parser.add_argument("--out", required=True, type=Path, help="output 4D NIfTI (channels last, + .json sidecar)")


def main(args: argparse.Namespace) -> None:
    """Combine the volumes and write the multi-channel volume."""
    from neuropeft.errors import NeuropeftError
    from neuropeft.preproc.channels import parse_absent, write_combined

    absent = parse_absent(args.absent)
    if absent and not args.modalities:
        raise NeuropeftError("--absent needs --modalities (every modality in channel order); add it")
    write_combined(args.volumes, args.out, args.modalities, absent)
