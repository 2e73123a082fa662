"""each site's intensity profile after normalisation (kernel density of brain voxels, per channel)"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the site-intensities step."""
    parser.add_argument("--array", required=True, type=Path, help="model_input.npy (N, C, X, Y, Z)")
    parser.add_argument("--index", required=True, type=Path, help="model_input.tsv (row, ..., site)")
    parser.add_argument("--out", required=True, type=Path, help="the figure (.png or .svg)")


def main(args: argparse.Namespace) -> None:
    """Write the figure."""
    from neuropeft.metrics.federation import intensity_profiles

    intensity_profiles(args.array, args.index, args.out)
