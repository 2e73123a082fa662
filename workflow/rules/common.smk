# Parse-time helpers shared by every rule file. Kept cheap: this runs again in every cluster job.
import os
import sys

from neuropeft.errors import NeuropeftError
from neuropeft.failures import current_failures, drop_failed
from neuropeft.workflow import (
    bids_dir,
    experiment_settings,
    external_subject_table,
    settings_json,
    subject_table,
    uses_demo,
)

# Rules run the package's CLI with `python` of their environment: the interpreter running Snakemake
# (its folder leads PATH), or a conda environment's under --sdm conda (activation puts it first).
# The package is found on PYTHONPATH, so conda environments need not install it.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [os.path.join(workflow.basedir, "src"), os.environ.get("PYTHONPATH")])
)
NP = "python -m neuropeft"
RESULTS = "results"
EXTERNAL = f"{RESULTS}/external"  # an external test set, preprocessed by the same rules
BIDS = bids_dir(config)
BIDS_DIRS = {RESULTS: BIDS, EXTERNAL: config["external_bids_dir"]}
MODEL_GRID = config["demo_model_grid"] if uses_demo(config) else config["model_grid"]
# The --settings text of each per-subject step: the rules pass it, and a failure record made under
# other settings no longer applies (the subject is tried again).
STEP_SETTINGS = {
    "n4_dwi": settings_json(config["n4_dwi"]),
    "skullstrip_dwi": settings_json(config["skullstrip_dwi"]),
    "fit_tensor": settings_json(config["tensor"]),
    "register_dwi": settings_json(config["registration_dwi"]),
    "resample_dwi": settings_json({**MODEL_GRID, "normalise": ["fa", "md"]}),
    "n4_t1w": settings_json(config["n4_t1w"]),
    "skullstrip_t1w": settings_json(config["skullstrip_t1w"]),
    "register_t1w": settings_json(config["registration_t1w"]),
    "resample_t1w": settings_json({**MODEL_GRID, "normalise": ["zscore"]}),
    "combine_channels": "",
}
try:
    SUBJECTS, TASK = subject_table(config, f"{RESULTS}/cohort/cache")
    EXPERIMENTS = experiment_settings(config, TASK)
    ALL_SUBJECTS = {RESULTS: SUBJECTS}
    if config["external_bids_dir"]:
        ALL_SUBJECTS[EXTERNAL] = external_subject_table(config, f"{EXTERNAL}/cohort/cache")
    # subjects whose steps failed on their data (records that still apply), per dataset
    FAILURES = {root: current_failures(f"{root}/failures", s, STEP_SETTINGS) for root, s in ALL_SUBJECTS.items()}
    DATASETS = ALL_SUBJECTS
    if config["on_subject_failure"] == "drop":
        DATASETS = {
            root: drop_failed(s, FAILURES[root], config["max_failed_fraction"], f"{root}/failures")
            for root, s in ALL_SUBJECTS.items()
        }
except NeuropeftError as error:  # a user error: one message, no traceback
    sys.exit(f"neuropeft: {error}")
BY_STEM = {root: {s["stem"]: s for s in subjects} for root, subjects in ALL_SUBJECTS.items()}


wildcard_constraints:
    root=r"results(/external)?",
    key=r"sub-[A-Za-z0-9]+(/ses-[A-Za-z0-9]+)?",
    stem=r"sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?",


def failure_record(rule_name):
    """Where a per-subject step records a failure on the subject's data (``--failure-record``)."""
    return f"{{root}}/failures/{{stem}}/{rule_name}.json"


def subject_input(field):
    """Input function: the subject's raw BIDS file `field` (t1w, dwi, bval, bvec)."""
    return lambda wildcards: BY_STEM[wildcards.root][wildcards.stem][field]


def per_subject(pattern, root=RESULTS):
    """Expand a path pattern with {root}, {key} and {stem} over every included subject of a dataset."""
    return [pattern.format(root=root, key=s["key"], stem=s["stem"]) for s in DATASETS[root]]


def raw_inputs(root):
    """Every raw file the configured modalities need, of every validated subject (failed or not)."""
    fields = (["t1w"] if "t1w" in config["modalities"] else []) + (
        ["dwi", "bval", "bvec"] if "dwi" in config["modalities"] else []
    )
    return [s[field] for s in ALL_SUBJECTS[root] for field in fields]


def final_outputs():
    """What `snakemake` builds by default: QC, the comparison table, every experiment's metrics and the run record."""
    qc = {"dwi": "{root}/qc/{key}/{stem}_dwi_colorFA.png", "t1w": "{root}/qc/{key}/{stem}_T1w_registration.png"}
    fractions = [f"{RESULTS}/metrics/fractions.png"] if any("train_fraction" in e for e in EXPERIMENTS.values()) else []
    external = [f"{RESULTS}/metrics/comparison_external.md", f"{EXTERNAL}/qc/qc.tsv"] if EXTERNAL in DATASETS else []
    return (
        [f"{RESULTS}/qc/qc.tsv", f"{RESULTS}/metrics/comparison.md", f"{RESULTS}/provenance.json"]
        + fractions
        + external
        + [f for root in DATASETS for m in config["modalities"] for f in per_subject(qc[m], root)]
    )
