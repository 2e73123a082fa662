"""QC of one subject and modality in one job: its figures (N4, mask, registration, colour FA) and measurements (JSON)"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.steps.qc_metrics import add_measure_arguments, measure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-subject``."""
    from neuropeft.preproc.qc_subject import LABELS

    parser.add_argument("--subject", required=True, help="subject label for the titles (e.g. sub-001_ses-1)")
    parser.add_argument("--modality", required=True, choices=sorted(LABELS), help="which images these are")
    parser.add_argument(
        "--corrected", required=True, type=Path, help="bias-corrected image (N4 output; 4D: first volume)"
    )
    parser.add_argument("--mask", required=True, type=Path, help="brain mask on the corrected image's grid")
    parser.add_argument("--registered", required=True, type=Path, help="the image registered to the template")
    parser.add_argument("--color-fa", type=Path, default=None, help="colour FA (DWI only)")
    parser.add_argument("--out-n4", required=True, type=Path, help="output PNG: the corrected image")
    parser.add_argument("--out-mask", required=True, type=Path, help="output PNG: mask outline")
    parser.add_argument(
        "--out-registration", required=True, type=Path, help="output PNG: registered image and template edges"
    )
    parser.add_argument("--out-color-fa", type=Path, default=None, help="output PNG: colour FA (with --color-fa)")
    add_measure_arguments(parser)
    parser.add_argument("--out-metrics", required=True, type=Path, help="output JSON: the measurements of `qc-metrics`")


def main(args: argparse.Namespace) -> None:
    """Draw the subject's figures, then measure it (one process: one interpreter start per subject)."""
    from neuropeft.preproc.qc_subject import render_subject

    render_subject(
        args.subject,
        args.modality,
        args.corrected,
        args.mask,
        args.registered,
        args.out_n4,
        args.out_mask,
        args.out_registration,
        args.color_fa,
        args.out_color_fa,
    )
    measure(args, args.out_metrics)
