"""concatenate the model-ready volumes of several modalities as channels"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft combine-channels``."""
    parser.add_argument(
        "--volumes", nargs="+", required=True, type=Path, help="model-ready volumes on one grid, in channel order"
    )
    parser.add_argument("--out", required=True, type=Path, help="output 4D NIfTI (channels last, + .json sidecar)")


def main(args: argparse.Namespace) -> None:
    """Combine the volumes and write the multi-channel volume."""
    from neuropeft.preproc.channels import write_combined

    write_combined(args.volumes, args.out)
