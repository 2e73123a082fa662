"""stack per-subject model-grid label maps into labels.npy (N, X, Y, Z) in model-input order, and classes.tsv"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft stack-labels``."""
    parser.add_argument(
        "--labels", nargs="+", required=True, type=Path, help="resample-labels outputs, named <stem>_*.nii.gz"
    )
    parser.add_argument(
        "--index", required=True, type=Path, help="model-input index TSV (stack-model-input): its row order is kept"
    )
    parser.add_argument("--cohort", required=True, type=Path, help="cohort TSV: participant_id, session, stem")
    parser.add_argument("--out-array", required=True, type=Path, help="output .npy, uint8 (N, X, Y, Z)")
    parser.add_argument("--out-classes", required=True, type=Path, help="output TSV: class (1..K-1) and name")
    parser.add_argument(
        "--groups", type=Path, default=None, help="the grouping TSV given to resample-labels: names the classes"
    )


def main(args: argparse.Namespace) -> None:
    """Stack the label maps and write the array and the class names."""
    from neuropeft.segment.stack import stack_labels

    stack_labels(args.labels, args.index, args.cohort, args.out_array, args.out_classes, args.groups)
