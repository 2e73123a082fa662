"""``neuropeft qc-subject``: every QC figure of one subject and modality in one process.

Draws the figures of ``qc-image`` for each preprocessing step — the bias-corrected image (N4), the
brain-mask outline (skull stripping), the registered image under the template's edges
(registration) and, for DWI, colour FA (tensor fit) — so a subject costs one interpreter start,
not one per figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuropeft.preproc.qc import BUILTIN_TEMPLATE, render

LABELS = {"dwi": "DWI b=0", "t1w": "T1w"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-subject``."""
    parser.add_argument("--subject", required=True, help="subject label for the titles (e.g. sub-001_ses-1)")
    parser.add_argument("--modality", required=True, choices=sorted(LABELS), help="which images these are")
    parser.add_argument("--corrected", required=True, type=Path, help="bias-corrected image (N4 output; 4D: first volume)")
    parser.add_argument("--mask", required=True, type=Path, help="brain mask on the corrected image's grid")
    parser.add_argument("--registered", required=True, type=Path, help="the image registered to the template")
    parser.add_argument("--color-fa", type=Path, default=None, help="colour FA (DWI only)")
    parser.add_argument("--out-n4", required=True, type=Path, help="output PNG: the corrected image")
    parser.add_argument("--out-mask", required=True, type=Path, help="output PNG: mask outline")
    parser.add_argument("--out-registration", required=True, type=Path, help="output PNG: registered image and template edges")
    parser.add_argument("--out-color-fa", type=Path, default=None, help="output PNG: colour FA (with --color-fa)")


def main(args: argparse.Namespace) -> None:
    """Run ``neuropeft qc-subject``."""
    label = f"{args.subject} {LABELS[args.modality]}"
    render(args.corrected, args.out_n4, f"{label} after N4 bias-field correction")
    render(args.corrected, args.out_mask, f"{label} brain mask", mask=args.mask)
    render(args.registered, args.out_registration, f"{label} in MNI152 space, template edges", edges=BUILTIN_TEMPLATE)
    if args.color_fa is not None and args.out_color_fa is not None:
        render(args.color_fa, args.out_color_fa, f"{args.subject} colour FA", mask=args.mask, rgb=True)
