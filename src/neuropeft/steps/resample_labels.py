"""warp a subject's native label map (grouped into classes) onto the model grid with its T1w registration"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps import add_settings_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft resample-labels``."""
    parser.add_argument(
        "--labels", required=True, type=Path, help="native label map on the T1w grid (e.g. DLMUSE *_dseg.nii.gz)"
    )
    parser.add_argument(
        "--transforms-json",
        required=True,
        type=Path,
        help="P_transforms.json of `neuropeft register` for the subject's T1w (its forward list)",
    )
    parser.add_argument("--out", required=True, type=Path, help="class map on the model grid, uint8 NIfTI (+ .json)")
    parser.add_argument(
        "--groups",
        type=Path,
        default=None,
        help="TSV with columns label and class grouping labels into classes 1..K-1 (default: labels are classes)",
    )
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Group the labels into classes and warp them onto the model grid."""
    from neuropeft.segment.warp import LabelGridSettings, resample_labels_file
    from neuropeft.settings import parse_settings

    settings = parse_settings(LabelGridSettings, args.settings)
    resample_labels_file(args.labels, args.transforms_json, args.out, args.groups, settings)
