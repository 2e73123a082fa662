"""Parse-time helpers for the Snakefile: cheap, import-light, and testable outside Snakemake."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from neuropeft.choices import look_up_option
from neuropeft.demo.layout import DEMO_DIR, bids_root, dataset_files, subject_files
from neuropeft.errors import NeuropeftError
from neuropeft.modalities import MODALITY_CHANNELS, MODALITY_FIELDS, check_optional, has_modality

#: ``on_invalid``: exclude (run without the subjects that fail validation) or stop (refuse to run)
ON_INVALID = ("exclude", "stop")
#: ``device`` of training: auto (CUDA when present), cpu or cuda
DEVICES = ("auto", "cpu", "cuda")
#: ``task``: the learning tasks (neuropeft.learn.tasks.TASKS) and segmentation (label maps as the target)
WORKFLOW_TASKS = ("auto", "classification", "regression", "survival", "segmentation")


def expose_package(basedir: str) -> None:
    """Let every job run ``python -m neuropeft`` of its environment and find the package.

    Jobs call ``python`` of the interpreter running Snakemake (its folder leads ``PATH``), or of a
    conda environment under ``--sdm conda`` (activation puts it first); the package is found on
    ``PYTHONPATH`` (``<basedir>/src``), so conda environments need not install it.
    """
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.path.join(basedir, "src"), os.environ.get("PYTHONPATH")])
    )


def settings_json(section: dict[str, Any]) -> str:
    """One step's config section as compact JSON, for ``--settings`` (stable key order)."""
    return json.dumps(section, sort_keys=True, separators=(",", ":"))


def uses_demo(config: dict[str, Any]) -> bool:
    """True when neither ``bids_dir`` nor ``images_table`` is configured: the built-in demo cohort is
    synthesised and used."""
    return not config.get("bids_dir") and not config.get("images_table")


def bids_dir(config: dict[str, Any]) -> str:
    """The BIDS dataset the workflow reads: the user's, or the demo cohort's."""
    return str(config["bids_dir"]) if not uses_demo(config) else str(bids_root(DEMO_DIR))


def demo_subjects(n_subjects: int) -> list[str]:
    """The demo cohort's participant IDs (``sub-001`` ...), known without generating it."""
    return [f"sub-{index:03d}" for index in range(1, n_subjects + 1)]


#: the files of one demo subject that later rules read, as patterns of its ID ({sub})
DEMO_SUBJECT_FILES = {
    field: str(path)
    for field, path in subject_files(DEMO_DIR, "{sub}").items()
    if field in ("t1w", "dwi", "bval", "bvec", "tissue_dseg")
}
#: the demo's dataset-level files that later rules read
DEMO_DATASET_FILES = [
    str(dataset_files(DEMO_DIR)[name]) for name in ("participants", "description", "tissue_description", "tissue_lut")
]


DEMO_TARGET_KINDS = {
    "diagnosis": "binary",
    "age": "continuous",
    "sex": "binary",
    "site": "multiclass",
    "time": "continuous",
}
#: the demo's event indicator (its target for task survival is ``time``)
DEMO_EVENT_COLUMN = "event"


def event_column(config: dict[str, Any]) -> str:
    """The participants.tsv column of the event indicator for ``task: survival``; "" for other tasks."""
    return str(config["event_column"]) if config["task"] == "survival" else ""


def optional_modalities(config: dict[str, Any]) -> list[str]:
    """The configured ``optional_modalities``, refused where they cannot apply: names not in
    ``modalities``, none left required, an ``images_table``, and a demo missing DWI without ``dwi``."""
    optional = list(config.get("optional_modalities") or [])
    check_optional(list(config["modalities"]), optional)
    if optional and config.get("images_table"):
        raise NeuropeftError(
            "optional_modalities apply to a BIDS dataset; an images_table has its channels per row, leave it []"
        )
    fraction = float(config["demo"].get("missing_dwi_fraction", 0.0))
    if uses_demo(config) and fraction > 0 and "dwi" not in optional:
        raise NeuropeftError(
            f"demo.missing_dwi_fraction {fraction:g} leaves subjects without DWI; set optional_modalities: [dwi] "
            "(and modalities: [t1w, dwi]) or missing_dwi_fraction: 0"
        )
    return optional


def modality_options(config: dict[str, Any]) -> str:
    """What validate-cohort takes beyond ``--modalities``: ``--optional-modalities ...`` when some are ("" otherwise)."""
    optional = optional_modalities(config)
    return " ".join(["--optional-modalities", *optional]) if optional else ""


def absent_modalities(record: dict[str, str], config: dict[str, Any]) -> list[str]:
    """The optional modalities a subject record lacks, in ``modalities`` order."""
    optional = config.get("optional_modalities") or []
    return [m for m in config["modalities"] if m in optional and not has_modality(record, m)]


def combine_options(record: dict[str, str], config: dict[str, Any]) -> str:
    """combine-channels' options for a subject lacking an optional modality (its channels become zeros):
    ``--modalities <all, in order> --absent dwi:2``; "" when it has them all."""
    absent = absent_modalities(record, config)
    if not absent:
        return ""
    options = ["--modalities", *config["modalities"]]
    options += [part for m in absent for part in ("--absent", f"{m}:{MODALITY_CHANNELS[m]}")]
    return " ".join(options)


def demo_missing_dwi(config: dict[str, Any]) -> list[str]:
    """The demo subjects written without DWI (``demo.missing_dwi_fraction``; the writer draws the same)."""
    from neuropeft.demo.missing import missing_dwi_subjects

    demo = config["demo"]
    return missing_dwi_subjects(
        int(demo["n_subjects"]), float(demo.get("missing_dwi_fraction", 0.0)), int(demo.get("seed", 0))
    )


def resolve_task(config: dict[str, Any], target_kind: str) -> str:
    """``classification`` or ``regression``: the configured task, or the target's kind when ``auto``."""
    if config["task"] != "auto":
        return str(config["task"])
    return "regression" if target_kind == "continuous" else "classification"


def subject_table(config: dict[str, Any], cache_dir: str | Path) -> tuple[list[dict[str, str]], str]:
    """One record per (subject, session) — key, stem and input paths — and the task.

    For the demo the records follow from the config alone (the dataset may not exist yet); for a
    user's dataset they come from the cached BIDS index, which also reports every problem found.
    """
    optional = optional_modalities(config)
    if uses_demo(config):
        look_up_option(config["target"], sorted(DEMO_TARGET_KINDS), "demo target column")
        if event_column(config) and (config["target"], event_column(config)) != ("time", DEMO_EVENT_COLUMN):
            raise NeuropeftError(
                f"the demo's time-to-event outcome is target: time with event_column: {DEMO_EVENT_COLUMN}; set those"
            )
        no_dwi = set(demo_missing_dwi(config))
        records = [
            {
                "participant_id": sub,
                "session": "",
                "key": sub,
                "stem": sub,
                **{
                    field: "" if sub in no_dwi and field in MODALITY_FIELDS["dwi"] else pattern.format(sub=sub)
                    for field, pattern in DEMO_SUBJECT_FILES.items()
                },
            }
            for sub in demo_subjects(int(config["demo"]["n_subjects"]))
        ]
        return records, resolve_task(config, DEMO_TARGET_KINDS[config["target"]])
    from neuropeft.atomic import write_tsv
    from neuropeft.bids.index import format_problems, load_cohort

    cohort = load_cohort(
        config["bids_dir"],
        cache_dir,
        target=config["target"],
        modalities=list(config["modalities"]),
        site_column=config["site_column"],
        run_policy=config["run_policy"],
        bids_filters=config["bids_filters"],
        event_column=event_column(config),
        covariates=covariate_columns(config),
        optional_modalities=optional,
    )
    if cohort.problems and look_up_option(config["on_invalid"], ON_INVALID, "on_invalid") == "stop":
        raise NeuropeftError(
            f"{len(cohort.problems)} problem(s) in {config['bids_dir']}; fix them or set "
            f"on_invalid: exclude to run without those subjects:\n{format_problems(cohort.problems)}"
        )
    excluded = Path(cache_dir).parent / "excluded.tsv"
    if cohort.rows.empty:  # stop before planning jobs on nobody; excluded.tsv is written here, as no rule will run
        write_tsv(cohort.excluded, excluded)
        raise NeuropeftError(
            f"no subject left in {config['bids_dir']}: {cohort.summary()}; the reasons are in {excluded}"
        )
    if cohort.problems:
        print(f"neuropeft: {cohort.summary()} (reasons in {excluded}):\n{format_problems(cohort.problems)}")
    columns = ["participant_id", "session", "key", "stem", "t1w", "dwi", "bval", "bvec"]
    records = [{c: str(row[c]) for c in columns} for _, row in cohort.rows.iterrows()]
    return records, resolve_task(config, cohort.target_kind)


def images_table(config: dict[str, Any]) -> tuple[Any, str]:
    """The validated images table (config ``images_table``: images prepared elsewhere) and the task.

    Every problem is reported at once: ``on_invalid: stop`` refuses to run, ``exclude`` runs
    without those rows (listed in ``results/cohort/excluded.tsv`` by the validate_table rule).
    Returns a :class:`neuropeft.preproc.images_table.ImagesTable`.
    """
    from neuropeft.bids.problems import format_problems
    from neuropeft.preproc.images_table import check_usable, read_images_table

    if config["task"] == "segmentation":
        raise NeuropeftError("task segmentation needs label maps from BIDS derivatives; use bids_dir, not images_table")
    if config["bids_dir"]:
        raise NeuropeftError("set bids_dir or images_table, not both: the workflow reads one dataset")
    optional_modalities(config)
    if config["external_bids_dir"]:
        raise NeuropeftError(
            "external_bids_dir cannot be combined with images_table; put the external subjects in the "
            "table with split: test (or run the BIDS dataset on its own)"
        )
    source = Path(config["images_table"])
    images = read_images_table(
        source, config["target"], config["site_column"], event_column(config), covariate_columns(config)
    )
    if look_up_option(config["on_invalid"], ON_INVALID, "on_invalid") == "stop":
        images.refuse_problems(source)
    task = resolve_task(config, images.target_kind)
    check_usable(images, source, task == "classification")
    if images.problems:
        print(
            f"neuropeft: {images.summary()} (reasons in results/cohort/excluded.tsv):\n{format_problems(images.problems)}"
        )
    return images, task


def experiment_settings(config: dict[str, Any], task: str) -> dict[str, dict[str, Any]]:
    """Each configured experiment's settings by name, with the workflow's resolved ``task``."""
    if task == "survival":
        check_survival(config)
    check_covariates(config)
    # a multi-modal stack: each experiment learns which channels are which modality
    stack = {"stack_modalities": list(config["modalities"])} if multi_modal(config) else {}
    experiments: dict[str, dict[str, Any]] = {}
    for entry in config["experiments"]:
        if entry["name"] in experiments:
            raise NeuropeftError(
                f"experiment name {entry['name']!r} is used twice in experiments; names must be unique"
            )
        experiments[entry["name"]] = {**entry, "task": task, **stack}
    check_modalities(config, experiments)
    return experiments


def multi_modal(config: dict[str, Any]) -> bool:
    """Whether the cohort stack holds several modalities (a BIDS dataset or the demo with both)."""
    return len(config["modalities"]) > 1 and not config["images_table"]


def check_modalities(config: dict[str, Any], experiments: dict[str, dict[str, Any]]) -> None:
    """Refuse experiment ``modalities`` outside the workflow's, and a ``cross_modal`` experiment that
    cannot adapt its source (see :func:`check_cross_modal`)."""
    for name, entry in experiments.items():
        chosen = entry.get("modalities", [])
        if not (chosen or entry.get("cross_modal")):
            continue
        outside = [m for m in chosen if m not in config["modalities"]]
        if outside:
            raise NeuropeftError(
                f"experiment {name!r}: modalities {outside} are not in the workflow's modalities {config['modalities']}"
            )
        if not multi_modal(config):
            raise NeuropeftError(
                f"experiment {name!r} picks modalities; that needs a workflow with several modalities (modalities: "
                "[t1w, dwi]) read from BIDS or the demo, not an images_table"
            )
        if entry.get("cross_modal"):
            check_cross_modal(name, experiments, list(config["modalities"]))


def check_cross_modal(name: str, experiments: dict[str, dict[str, Any]], stack: list[str]) -> None:
    """Refuse a ``cross_modal`` experiment whose source it cannot adapt: one line naming the fix."""
    from neuropeft.learn.experiment import ExperimentSettings
    from neuropeft.learn.modalities import experiment_modalities

    entry = experiments[name]
    source_name = entry["cross_modal"].get("from", "")
    if source_name not in experiments or source_name == name:
        raise NeuropeftError(f"experiment {name!r}: cross_modal.from must name another experiment, not {source_name!r}")
    source = experiments[source_name]
    defaults = ExperimentSettings()
    mine = experiment_modalities(stack, entry.get("modalities", []))
    theirs = experiment_modalities(stack, source.get("modalities", []))
    problems = {
        "method lora or dora": entry.get("method", defaults.method) not in ("lora", "dora"),
        f"a source that is not itself cross_modal ({source_name!r} is)": bool(source.get("cross_modal")),
        "neither experiment federated": bool(entry.get("federated") or source.get("federated")),
        "no covariates on either experiment": bool(entry.get("covariates") or source.get("covariates")),
        f"the backbone, head and grid of {source_name!r}": any(
            entry.get(key, getattr(defaults, key)) != source.get(key, getattr(defaults, key))
            for key in ("backbone", "head", "grid")
        ),
        f"every modality of {source_name!r} ({'+'.join(theirs)}) and at least one more": not set(theirs) < set(mine),
        f"no init of its own (it starts from {source_name!r})": "init" in entry,
    }
    unmet = [need for need, broken in problems.items() if broken]
    if unmet:
        raise NeuropeftError(f"cross_modal experiment {name!r} needs {unmet[0]}; fix the experiment settings")


def covariate_columns(config: dict[str, Any]) -> list[str]:
    """Every participants.tsv column an experiment feeds to its head (sorted; [] for segmentation)."""
    if config["task"] == "segmentation":
        return []
    return sorted({name for entry in config["experiments"] for name in entry.get("covariates", [])})


def target_options(config: dict[str, Any]) -> str:
    """What the validation steps take beyond the target: task survival's event column and the
    experiments' covariates, each only when there is one ("" otherwise)."""
    options = [f"--event-column {event_column(config)}"] if event_column(config) else []
    options += ["--covariates", *covariate_columns(config)] if covariate_columns(config) else []
    return " ".join(options)


def check_covariates(config: dict[str, Any]) -> None:
    """Refuse covariates where they cannot be read yet: an external test set, a federation."""
    named = [entry["name"] for entry in config["experiments"] if entry.get("covariates")]
    if not named:
        return
    if config["external_bids_dir"]:
        raise NeuropeftError(
            f"experiment(s) {named} take covariates; an external_bids_dir cannot be scored with them yet, leave it empty"
        )
    federated = [entry["name"] for entry in config["experiments"] if entry.get("covariates") and entry.get("federated")]
    if federated:
        raise NeuropeftError(f"federated experiment(s) {federated} cannot take covariates yet; remove them there")


def check_survival(config: dict[str, Any]) -> None:
    """Refuse what ``task: survival`` cannot do yet: an external test set, federated experiments."""
    if config["external_bids_dir"]:
        raise NeuropeftError("task survival does not score an external_bids_dir yet; leave it empty")
    federated = [entry["name"] for entry in config["experiments"] if entry.get("federated")]
    if federated:
        raise NeuropeftError(
            f"federated experiments take classification targets; remove {federated} from experiments for task survival "
            "(config/survival.yaml has a set without them)"
        )


def entries_by_name(entries: list[dict[str, Any]], what: str) -> dict[str, dict[str, Any]]:
    """A config list of named entries (experiments, pretrain runs) by name, refusing a repeated name."""
    named: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry["name"] in named:
            raise NeuropeftError(f"{what} name {entry['name']!r} is used twice; names must be unique")
        named[entry["name"]] = dict(entry)
    return named


def segmentation_experiments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each configured segmentation experiment's settings by name (``task: segmentation``)."""
    if config["external_bids_dir"]:
        raise NeuropeftError("task segmentation does not score an external_bids_dir yet; leave it empty")
    if "t1w" not in config["modalities"]:
        raise NeuropeftError(
            "task segmentation carries the label maps by the T1w's registration; add t1w to modalities"
        )
    if "t1w" in (config.get("optional_modalities") or []):
        raise NeuropeftError("task segmentation needs every subject's T1w; remove t1w from optional_modalities")
    return entries_by_name(config["segmentation_experiments"], "segmentation experiment")


#: the demo's tissue classes (its ground truth): label map field of a demo subject, look-up table
DEMO_TISSUE_FIELD = "tissue_dseg"
DEMO_TISSUE_LUT = str(dataset_files(DEMO_DIR).get("tissue_lut", ""))


def segmentation_labels(config: dict[str, Any], subjects: list[dict[str, str]]) -> dict[str, str]:
    """Each subject's label map by its file prefix (stem): the demo's tissue classes, or the one
    ``*_dseg.nii.gz`` (with the configured ``desc``) under ``segmentation.labels_dir``'s subject folder."""
    if uses_demo(config):
        return {s["stem"]: s[DEMO_TISSUE_FIELD] for s in subjects}
    section = config["segmentation"]
    if not section["labels_dir"]:
        raise NeuropeftError("task segmentation needs segmentation.labels_dir, e.g. derivatives/dlmuse")
    root = Path(section["labels_dir"])
    root = root if root.is_absolute() else Path(config["bids_dir"]) / root
    desc = f"_desc-{section['desc']}_" if section["desc"] else "_"
    found, missing = {}, []
    for subject in subjects:
        folder = root / subject["key"] / "anat"
        matches = sorted(folder.glob(f"{subject['stem']}_*dseg.nii.gz")) if folder.is_dir() else []
        matches = [m for m in matches if desc in m.name.removeprefix(subject["stem"])[: -len("dseg.nii.gz")]]
        if len(matches) == 1:
            found[subject["stem"]] = str(matches[0])
        else:
            missing.append(f"{subject['stem']} ({len(matches)} found)")
    if missing:
        raise NeuropeftError(
            f"{len(missing)} subject(s) have not exactly one {subject_pattern(section['desc'])} under {root}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; add them or set segmentation.desc"
        )
    return found


def subject_pattern(desc: str) -> str:
    """The label map file name sought for a subject (for messages)."""
    return f"sub-*[_ses-*]_*desc-{desc}_*dseg.nii.gz" if desc else "sub-*[_ses-*]_*dseg.nii.gz"


def label_groups(config: dict[str, Any]) -> str:
    """The table grouping labels into classes: the configured one, or the demo's tissue look-up table."""
    if config["segmentation"]["label_groups"] or not uses_demo(config):
        return str(config["segmentation"]["label_groups"])
    return DEMO_TISSUE_LUT


def model_grids(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every model grid by name: ``""`` is ``model_grid`` (``demo_model_grid`` on the demo), then
    the named ``model_grids`` (e.g. a ResNet's 2 mm / 96³ beside SAM-Med3D's 1.5 mm / 128³)."""
    default = config["demo_model_grid"] if uses_demo(config) else config["model_grid"]
    return {"": default, **config.get("model_grids", {})}


def grid_tag(name: str) -> str:
    """The BIDS ``res`` entity a named grid's model-input files carry (``_res-NAME``; none for ``model_grid``)."""
    return f"_res-{name}" if name else ""


def run_grids(
    experiments: dict[str, dict[str, Any]], pretrain: dict[str, dict[str, Any]], grids: dict[str, dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """The grid tag (:func:`grid_tag`) of each experiment's and of each pre-training run's model input.

    Refuses a grid name that ``model_grids`` does not define, and an experiment that starts from a
    pre-training run on another grid (its backbone saw other voxel sizes and shapes).
    """
    tags: list[dict[str, str]] = []
    for kind, runs in (("experiment", experiments), ("pretrain", pretrain)):
        for name, entry in runs.items():
            if str(entry.get("grid", "")) not in grids:
                raise NeuropeftError(
                    f"{kind} {name!r}: grid {entry['grid']!r} is not defined; add it under model_grids "
                    f"(defined: {sorted(g for g in grids if g) or 'none'}) or leave grid empty for model_grid"
                )
        tags.append({name: grid_tag(str(entry.get("grid", ""))) for name, entry in runs.items()})
    experiment_tags, pretrain_tags = tags
    for name, entry in experiments.items():
        run = str(entry.get("init", "")).removeprefix(PRETRAIN_PREFIX)
        if (
            str(entry.get("init", "")).startswith(PRETRAIN_PREFIX)
            and pretrain_tags.get(run, experiment_tags[name]) != experiment_tags[name]
        ):
            raise NeuropeftError(
                f"experiment {name!r} (grid {entry.get('grid', '')!r}) cannot start from pretrain {run!r} "
                f"(grid {pretrain[run].get('grid', '')!r}); pre-train on the grid the experiment uses"
            )
    return experiment_tags, pretrain_tags


def names_pattern(names: list[str]) -> str:
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    return "|".join(re.escape(name) for name in sorted(names)) or r"(?!)"


def federated_experiments(
    experiments: dict[str, dict[str, Any]], config: dict[str, Any], fixed_split: bool = False
) -> list[str]:
    """The experiments with a ``federated`` entry (trained by the federate rule). Their folds must give
    every site training, validation and test subjects (:func:`fold_settings` turns the site balance
    on), which whole sites held out or a fixed split cannot."""
    names = [name for name, entry in experiments.items() if entry.get("federated")]
    folds = config["folds"]
    if names and (folds.get("group_by") != "participant" or folds.get("split_column") or fixed_split):
        raise NeuropeftError(
            f"federated experiment(s) {names} need every site in every fold's parts; "
            "set folds.group_by: participant, no folds.split_column and no split column in images_table"
        )
    return names


#: the index column of an images table's fixed train/val/test split
FIXED_SPLIT_COLUMN = "split"


def fold_settings(config: dict[str, Any], task: str, federated: list[str], fixed_split: bool = False) -> dict[str, Any]:
    """The folds step's settings: the config's, the resolved task (a segmentation's folds are
    stratified on its target column, whatever it holds), the site balance on when an experiment is
    federated, and an images table's ``split`` column as the one fixed split."""
    folds = config["folds"]
    settings = {
        **folds,
        "task": "auto" if task == "segmentation" else task,
        "site_balanced": bool(folds.get("site_balanced")) or bool(federated),
    }
    return {**settings, "split_column": FIXED_SPLIT_COLUMN} if fixed_split else settings


def fold_numbers(config: dict[str, Any], fixed_split: bool = False) -> list[int]:
    """The folds the learning rules run: ``folds.n_folds`` of them, or fold 0 alone for a fixed split."""
    return [0] if fixed_split else list(range(int(config["folds"]["n_folds"])))


def train_uses_gpu(config: dict[str, Any]) -> bool:
    """Whether training jobs hold a GPU: ``device: cuda``, or ``auto`` on a machine with an NVIDIA driver.

    Checked without importing torch (parsing runs again in every cluster job); on a cluster whose
    submit host has no GPU, set ``device: cuda`` explicitly.
    """
    if look_up_option(config["device"], DEVICES, "device") == "auto":
        return Path("/proc/driver/nvidia/version").exists()
    return config["device"] == "cuda"


def external_subject_table(config: dict[str, Any], cache_dir: str | Path) -> list[dict[str, str]]:
    """The external test set's records (``external_bids_dir``), indexed and validated like the cohort."""
    records, _ = subject_table({**config, "bids_dir": config["external_bids_dir"]}, cache_dir)
    return records


PRETRAIN_PREFIX = "pretrain:"


def pretrain_settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each configured pre-training run's settings by name."""
    return entries_by_name(config["pretrain"], "pretrain")


def init_checkpoints(experiment: dict[str, Any], pretrain: dict[str, dict[str, Any]], results: str) -> list[str]:
    """The backbone checkpoint an experiment starts from when its ``init`` is ``pretrain:NAME`` (else none).

    Refuses an unknown run name, or a run whose backbone differs from the experiment's.
    """
    init = str(experiment.get("init", "random"))
    if not init.startswith(PRETRAIN_PREFIX):
        return []
    name = init.removeprefix(PRETRAIN_PREFIX)
    if name not in pretrain:
        raise NeuropeftError(
            f"experiment {experiment['name']!r}: init {init!r} names no pretrain entry; define one of that name under pretrain"
        )
    backbone = experiment.get("backbone", "resnet10")
    if pretrain[name].get("backbone", "resnet10") != backbone:
        raise NeuropeftError(
            f"experiment {experiment['name']!r} (backbone {backbone}) cannot start from pretrain {name!r} "
            f"(backbone {pretrain[name].get('backbone', 'resnet10')}); use the same backbone"
        )
    return [f"{results}/pretrain/{name}/backbone.safetensors"]
