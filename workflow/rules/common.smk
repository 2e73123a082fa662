# Parse-time helpers shared by every rule file; kept cheap, as this runs again in every cluster job.
import sys

from neuropeft.errors import NeuropeftError
from neuropeft.failures import current_failures, drop_failed
from neuropeft.paths import (
    TEMPLATE_SPACE,
    bids_path,
    failure_record,
    subject_benchmark,
    subject_log,
)
from neuropeft.modalities import MODALITY_FIELDS, has_modality
from neuropeft.workflow import (
    absent_modalities,
    bids_dir,
    combine_options,
    experiment_settings,
    expose_package,
    external_subject_table,
    grid_tag,
    images_table,
    modality_options,
    model_grids,
    names_pattern,
    optional_modalities,
    segmentation_experiments,
    settings_json,
    subject_table,
    target_options,
    uses_demo,
)

expose_package(workflow.basedir)
RESULTS = "results"
EXTERNAL = f"{RESULTS}/external"  # an external test set, preprocessed by the same rules
BIDS = bids_dir(config)
BIDS_DIRS = {RESULTS: BIDS, EXTERNAL: config["external_bids_dir"]}
# each model grid's settings by its tag in file names ("" = model_grid; "_res-NAME" = model_grids NAME)
GRIDS = {grid_tag(name): grid for name, grid in model_grids(config).items()}
# The --settings text of each per-subject step: the rules pass it, and a failure record made under
# other settings no longer applies (the subject is tried again).
STEP_SETTINGS = {
    "n4_dwi": settings_json(config["n4_dwi"]),
    "skullstrip_dwi": settings_json(config["skullstrip_dwi"]),
    "fit_tensor": settings_json(config["tensor"]),
    "register_dwi": settings_json(config["registration_dwi"]),
    **{f"resample_dwi{tag}": settings_json({**grid, "normalise": ["fa", "md"]}) for tag, grid in GRIDS.items()},
    "n4_t1w": settings_json(config["n4_t1w"]),
    "skullstrip_t1w": settings_json(config["skullstrip_t1w"]),
    "register_t1w": settings_json(config["registration_t1w"]),
    **{f"resample_t1w{tag}": settings_json({**grid, "normalise": ["zscore"]}) for tag, grid in GRIDS.items()},
    **{f"combine_channels{tag}": "" for tag in GRIDS},
}
# what the qc_subject rules pass to their measurements (the rest of config qc is the QC table's)
QC_METRICS_SETTINGS = settings_json({"wm_threshold": config["qc"]["wm_threshold"]})
# images prepared elsewhere (config images_table), stacked as they are instead of preprocessing a BIDS dataset
IMAGES_TABLE = config["images_table"]
# where experiments with covariates read them: the validated images table, or the dataset's participants.tsv
COVARIATES_TABLE = f"{RESULTS}/cohort/cohort.tsv" if IMAGES_TABLE else f"{BIDS}/participants.tsv"
try:
    if IMAGES_TABLE:
        IMAGES, TASK = images_table(config)
        # every validated subject, per BIDS dataset: none here (the table's rows are not preprocessed)
        VALIDATED_SUBJECTS = {}
    else:
        SUBJECTS, TASK = subject_table(config, f"{RESULTS}/cohort/cache")
        VALIDATED_SUBJECTS = {RESULTS: SUBJECTS}
    # the experiments trained: segmentation_experiments for task segmentation, else experiments
    SEGMENTATION = TASK == "segmentation"
    # the modalities a subject may lack (checked against modalities, images_table and the demo)
    OPTIONAL_MODALITIES = optional_modalities(config)
    EXPERIMENTS = segmentation_experiments(config) if SEGMENTATION else experiment_settings(config, TASK)
    if config["external_bids_dir"]:
        VALIDATED_SUBJECTS[EXTERNAL] = external_subject_table(config, f"{EXTERNAL}/cohort/cache")
    # subjects whose steps failed on their data (records that still apply), per dataset
    FAILURES = {root: current_failures(f"{root}/failures", s, STEP_SETTINGS) for root, s in VALIDATED_SUBJECTS.items()}
    # the subjects this run processes, per dataset: the validated ones, less the failed when they are dropped
    INCLUDED_SUBJECTS = VALIDATED_SUBJECTS
    if config["on_subject_failure"] == "drop":
        INCLUDED_SUBJECTS = {
            root: drop_failed(s, FAILURES[root], config["max_failed_fraction"], f"{root}/failures")
            for root, s in VALIDATED_SUBJECTS.items()
        }
except NeuropeftError as error:  # a user error: one message, no traceback
    sys.exit(f"neuropeft: {error}")
# each cross_modal experiment's source: fold k adapts that experiment's fold k
CROSS_MODAL = {name: e["cross_modal"]["from"] for name, e in EXPERIMENTS.items() if e.get("cross_modal")}
# each dataset's subject records by file prefix (the {file_prefix} wildcard)
BY_PREFIX = {root: {s["stem"]: s for s in subjects} for root, subjects in VALIDATED_SUBJECTS.items()}
# the {root} of the datasets read from BIDS (validated and preprocessed) and of the images table
BIDS_ROOTS = names_pattern(list(VALIDATED_SUBJECTS))
TABLE_ROOTS = names_pattern([RESULTS] if IMAGES_TABLE else [])


wildcard_constraints:
    root=r"results(/external)?",
    subject_dir=r"sub-[A-Za-z0-9]+(/ses-[A-Za-z0-9]+)?",
    file_prefix=r"sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?",
    grid_tag=r"(_res-[A-Za-z0-9]+)?",


def subject_input(field):
    """Input function: the subject's raw BIDS file `field` (t1w, dwi, bval, bvec)."""
    return lambda wildcards: BY_PREFIX[wildcards.root][wildcards.file_prefix][field]


def per_subject(pattern, root=RESULTS, modality=None):
    """Expand a path pattern's {root}, {subject_dir} and {file_prefix} over every included subject of a dataset
    (with `modality`: only those having it; a subject may lack an optional modality)."""
    return [
        pattern.format(root=root, subject_dir=s["key"], file_prefix=s["stem"])
        for s in INCLUDED_SUBJECTS[root]
        if modality is None or has_modality(s, modality)
    ]


def raw_inputs(root):
    """Every raw file the configured modalities need, of every validated subject (failed or not), less
    the fields of an optional modality a subject lacks ("")."""
    fields = [field for m in config["modalities"] for field in MODALITY_FIELDS[m]]
    return [s[field] for s in VALIDATED_SUBJECTS[root] for field in fields if s[field]]


def subject_record(wildcards):
    """The subject record of a per-subject job (its {root} and {file_prefix} wildcards)."""
    return BY_PREFIX[wildcards.root][wildcards.file_prefix]


def combine_inputs(wildcards):
    """Input function of combine_channels: the model-ready volume of each modality the subject has."""
    absent = absent_modalities(subject_record(wildcards), config)
    return [
        model_input_path(m, wildcards.grid_tag).format(
            root=wildcards.root, subject_dir=wildcards.subject_dir, file_prefix=wildcards.file_prefix
        )
        for m in config["modalities"]
        if m not in absent
    ]


def model_volume(tag="{grid_tag}"):
    """The per-subject model-ready volume pattern on a grid: one modality's volume, or their channel stack."""
    if len(config["modalities"]) == 1:
        return model_input_path(config["modalities"][0], tag)
    return model_input_path("combined", tag)


def model_input_path(desc, tag="{grid_tag}"):
    """A subject's model-ready volume in template space (`desc`: dwi, t1w or combined) on the grid
    `tag` (GRIDS; left a wildcard by default), e.g. ..._space-X_res-sam_desc-dwi_model.nii.gz."""
    return bids_path("model_input", "", "model", space=TEMPLATE_SPACE + tag, desc=desc)


def model_input(root, tags, wildcard, ext):
    """Input function: the cohort stack (`ext`: .npy or .tsv) on the grid of the run the `wildcard` names."""
    return lambda wildcards: f"{root}/cohort/model_input{tags[wildcards[wildcard]]}{ext}"


def left_out_tables():
    """The tables of subjects left out, for the comparison: validation's excluded.tsv, plus the failed
    and QC-flagged subjects of a preprocessed (BIDS) dataset."""
    preprocessed = {
        "failures": f"{RESULTS}/cohort/failures.tsv",
        "qc_excluded": f"{RESULTS}/cohort/qc_excluded.tsv",
    }
    return {"excluded": f"{RESULTS}/cohort/excluded.tsv", **({} if IMAGES_TABLE else preprocessed)}


def labels_stack(ext):
    """Input function: a segmentation's label stack (``ext`` .npy) or class names (.tsv) on the experiment's grid."""
    name = "labels" if ext == ".npy" else "classes"
    return lambda wildcards: f"{RESULTS}/cohort/{name}{EXPERIMENT_GRID[wildcards.experiment]}{ext}"


def fold_files(name):
    """Input function: one fold file (predictions.tsv, history.tsv, run.json) of every fold."""
    return lambda wildcards: [f"{RESULTS}/models/{wildcards.experiment}/fold-{k}/{name}" for k in FOLDS]


def source_run(wildcards):
    """Input function: the run.json of the fold a cross_modal experiment adapts ([] for other experiments)."""
    source = CROSS_MODAL.get(wildcards.experiment)
    return [f"{RESULTS}/models/{source}/fold-{wildcards.fold}/run.json"] if source else []


def final_outputs():
    """What `snakemake` builds by default: QC, the comparison table, every experiment's metrics and the run record."""
    qc = {"dwi": rules.qc_subject_dwi.output.color_fa, "t1w": rules.qc_subject_t1w.output.registration}
    fractions = [f"{RESULTS}/metrics/fractions.png"] if any("train_fraction" in e for e in EXPERIMENTS.values()) else []
    fractions += [f"{RESULTS}/metrics/modalities.md"] if MODALITY_EXPERIMENTS else []
    federation = [f"{RESULTS}/metrics/{e}/site_auc.png" for e in FEDERATED]
    federation += [f"{RESULTS}/metrics/site_intensities.png"] if FEDERATED else []
    external = (
        [f"{RESULTS}/metrics/comparison_external.md", f"{EXTERNAL}/qc/qc.tsv"] if EXTERNAL in INCLUDED_SUBJECTS else []
    )
    segmentations = [
        path
        for e in (EXPERIMENTS if SEGMENTATION else [])
        for path in (f"{RESULTS}/segmentations/{e}", f"{RESULTS}/metrics/{e}/qc.png")
    ]
    return (
        [f"{RESULTS}/metrics/comparison.md", f"{RESULTS}/provenance.json"]
        + ([f"{RESULTS}/qc/qc.tsv"] if RESULTS in INCLUDED_SUBJECTS else [])
        + fractions
        + federation
        + external
        + segmentations
        + [f for root in INCLUDED_SUBJECTS for m in config["modalities"] for f in per_subject(qc[m], root, m)]
    )
