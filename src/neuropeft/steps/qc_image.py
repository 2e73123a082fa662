"""draw a QC figure: three orthogonal slices with mask outline, template edges or colour FA"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-image``."""
    from neuropeft.preproc.qc import BUILTIN_TEMPLATE

    parser.add_argument("--image", required=True, type=Path, help="3D image (or 4D: first volume, or RGB with --rgb)")
    parser.add_argument("--mask", type=Path, default=None, help="mask whose outline is drawn in red")
    parser.add_argument(
        "--overlay-edges",
        default=None,
        help=f"template image whose edges are drawn in yellow ('{BUILTIN_TEMPLATE}': built-in MNI152)",
    )
    parser.add_argument("--rgb", action="store_true", help="the image is colour FA (4D, last axis R, G, B)")
    parser.add_argument("--out", required=True, type=Path, help="output PNG")
    parser.add_argument("--title", default="", help="figure title (e.g. the subject and step)")


def main(args: argparse.Namespace) -> None:
    """Draw the figure."""
    from neuropeft.preproc.qc import render

    render(args.image, args.out, args.title or args.image.name, args.mask, args.overlay_edges, args.rgb)
