"""stack per-subject model-ready volumes into model_input.npy (N, C, X, Y, Z) and its index table"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft stack-model-input``."""
    parser.add_argument(
        "--volumes", nargs="+", required=True, type=Path, help="model-ready volumes, named <stem>_*.nii.gz"
    )
    parser.add_argument(
        "--cohort",
        required=True,
        type=Path,
        help="cohort TSV: participant_id, session, stem, site and the target column",
    )
    parser.add_argument("--target", required=True, help="cohort column holding the prediction target")
    parser.add_argument("--out-array", required=True, type=Path, help="output .npy, float32 (N, C, X, Y, Z)")
    parser.add_argument(
        "--out-index", required=True, type=Path, help="output index TSV (row, participant_id, session, target, site)"
    )
    parser.add_argument("--failures", type=Path, help="failures TSV (neuropeft failure-table): its stems are left out")
    parser.add_argument(
        "--optional-modalities",
        nargs="*",
        default=[],
        help="modalities a row may lack: a has_<modality> index column each (0 when its volume's sidecar lists it absent)",
    )
    parser.add_argument(
        "--qc-excluded",
        type=Path,
        help="QC exclusion TSV (qc-table --out-excluded): its stems are left out, their volumes ignored",
    )


def main(args: argparse.Namespace) -> None:
    """Stack the volumes and write the array and its index."""
    from neuropeft.preproc.stack import run

    run(
        args.volumes,
        args.cohort,
        args.target,
        args.out_array,
        args.out_index,
        args.failures,
        args.qc_excluded,
        args.optional_modalities,
    )
