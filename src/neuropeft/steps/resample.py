"""warp maps to the template, crop/pad to the model shape, normalise; write the model-ready volume"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft resample``."""
    parser.add_argument(
        "--image",
        action="append",
        required=True,
        type=Path,
        help="native-space map, one per channel in order (repeat: --image FA --image MD)",
    )
    parser.add_argument(
        "--transforms-json",
        required=True,
        type=Path,
        help="P_transforms.json of `neuropeft register` (its forward list)",
    )
    parser.add_argument("--out", required=True, type=Path, help="model-ready 4D NIfTI (channels last)")
    parser.add_argument("--mask", type=Path, default=None, help="native brain mask: zero outside it, z-score inside it")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Warp, crop/pad and normalise the maps; write the model-ready volume."""
    from neuropeft.preproc.resample import ResampleSettings, run
    from neuropeft.settings import parse_settings

    run(args.image, args.transforms_json, args.out, args.mask, parse_settings(ResampleSettings, args.settings))
