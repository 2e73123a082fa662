"""``neuropeft <step> ...``: the command-line interface every workflow rule calls.

Each step lives in its own module exposing ``add_arguments(parser)`` and ``main(args)``; modules
are imported only when their step runs, so ``neuropeft --help`` stays fast.

``neuropeft --failure-record PATH <step> ...`` (used by the per-subject rules) also records a
one-line failure of the step in ``PATH`` and deletes that record once the step succeeds
(:mod:`neuropeft.failures`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from neuropeft.errors import NeuropeftError
from neuropeft.failures import clear_failure_record, write_failure_record

#: step name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-cohort": ("neuropeft.demo.command", "synthesise the built-in demo BIDS cohort with ground truth"),
    "validate": ("neuropeft.bids.command", "index and validate a BIDS dataset; write the cohort table and excluded.tsv"),
    "folds": ("neuropeft.learn.cli_folds", "subject-wise stratified cross-validation folds with inner validation splits"),
    "train": ("neuropeft.learn.cli_train", "fine-tune one experiment (backbone × method × head) on one fold"),
    "predict": ("neuropeft.learn.cli_predict", "score every volume of a model-input array (e.g. an external test set) with one trained fold model"),
    "ensemble": ("neuropeft.metrics.ensemble", "average several models' predictions of the same subjects (class probabilities or values)"),
    "pretrain": ("neuropeft.learn.cli_pretrain", "self-supervised pre-training (MAE, reconstruction, contrastive) writing a foundation checkpoint"),
    "params": ("neuropeft.learn.params", "print trainable and total parameters of a backbone × method × head"),
    "n4-t1w": ("neuropeft.preproc.cli_n4_t1w", "N4 bias-field correction of the T1w; write the corrected T1w and the field"),
    "n4-dwi": ("neuropeft.preproc.cli_n4_dwi", "N4 bias field of the mean b=0, divided out of every DWI volume; write DWI and field"),
    "skullstrip-t1w": ("neuropeft.preproc.cli_skullstrip_t1w", "brain mask of a whole-head T1w by template registration; write mask and brain"),
    "skullstrip-dwi": ("neuropeft.preproc.cli_skullstrip_dwi", "brain mask of the DWI by median_otsu on the mean b=0; write mask and mean b=0"),
    "register": ("neuropeft.preproc.cli_register", "register a T1w or b=0 brain to the MNI152 2009a template; write transforms and JSON"),
    "fit-tensor": ("neuropeft.preproc.tensor", "fit the diffusion tensor (dipy) in native space; write FA, MD, AD, RD and colour FA"),
    "resample": ("neuropeft.preproc.resample", "warp maps to the template, crop/pad to the model shape, normalise; write the model-ready volume"),
    "combine-channels": ("neuropeft.preproc.channels", "concatenate the model-ready volumes of several modalities as channels"),
    "stack": ("neuropeft.preproc.stack", "stack per-subject model-ready volumes into model_input.npy (N, C, X, Y, Z) and its index table"),
    "stack-table": ("neuropeft.preproc.external", "resample and stack images prepared elsewhere, listed in a table, like `stack`"),
    "qc-image": ("neuropeft.preproc.qc", "draw a QC figure: three orthogonal slices with mask outline, template edges or colour FA"),
    "qc-subject": ("neuropeft.preproc.qc_subject", "draw every QC figure of one subject and modality (N4, mask, registration, colour FA)"),
    "qc-metrics": ("neuropeft.preproc.qc_metrics", "QC figures of one subject in template space (coverage, Dice, NMI, brain volume, FA/MD) as JSON"),
    "qc-table": ("neuropeft.preproc.qc_table", "build the cohort QC table: flag subjects outside the QC limits, robust outlier z-scores"),
    "aggregate-experiment": ("neuropeft.metrics.aggregate", "metrics per fold and across folds of one experiment, pooled predictions, plots"),
    "score": ("neuropeft.metrics.score", "metrics with a bootstrap CI of one predictions table (e.g. an ensemble on an external set)"),
    "record-run": ("neuropeft.run_record", "record the run's whole configuration (seeds included) and package versions"),
    "failure-table": ("neuropeft.failure_table", "the table of subjects that failed a step (and were dropped), for the report"),
    "compare": ("neuropeft.metrics.table", "comparison table of experiments: metrics, trainable parameters, time, memory"),
    "plot-fractions": ("neuropeft.metrics.fractions", "plot a metric against the fraction of training data used"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per step (arguments added lazily)."""
    parser = argparse.ArgumentParser(prog="neuropeft", description=__doc__.splitlines()[0])
    parser.add_argument("--failure-record", metavar="PATH", help="record a one-line failure of the step here (removed on success)")
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; a :class:`NeuropeftError` becomes a one-line message and exit status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    record = None
    if argv[:1] == ["--failure-record"] and len(argv) > 1:
        record, argv = argv[1], argv[2:]
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help or the "invalid choice" error
        return 2
    # ITK (antspyx) uses every core unless told; follow the thread count Snakemake gives the job.
    if "OMP_NUM_THREADS" in os.environ:
        os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", os.environ["OMP_NUM_THREADS"])
    module = importlib.import_module(COMMANDS[argv[0]][0])
    step_parser = argparse.ArgumentParser(prog=f"neuropeft {argv[0]}", description=COMMANDS[argv[0]][1])
    module.add_arguments(step_parser)
    args = step_parser.parse_args(argv[1:])
    try:
        module.main(args)
    except NeuropeftError as error:
        print(f"neuropeft {argv[0]}: error: {error}", file=sys.stderr)
        if record:
            write_failure_record(record, argv[0], str(error), getattr(args, "settings", ""))
        return 1
    if record:
        clear_failure_record(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
