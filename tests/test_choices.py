"""One source for every allowed value: the Python registries.

``neuropeft.choices.look_up_option`` refuses a bad choice in one line; the schema's enums, the
defaults of config/config.yaml and the settings dataclasses' defaults must agree with the
registries and with each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from neuropeft.bids.index import MODALITIES
from neuropeft.bids.layout import KINDS, NOT_ACQUISITION, RUN_POLICIES
from neuropeft.choices import look_up_option, look_up_options, suggestion
from neuropeft.demo.settings import DemoSettings
from neuropeft.errors import NeuropeftError
from neuropeft.failures import ON_SUBJECT_FAILURE
from neuropeft.federated.strategies import STRATEGIES as FEDERATED_STRATEGIES
from neuropeft.learn.backbones import BACKBONES
from neuropeft.learn.experiment import MONITORS, ExperimentSettings
from neuropeft.learn.folds import GROUP_BY, FoldSettings
from neuropeft.learn.heads import HEADS
from neuropeft.learn.methods import METHODS
from neuropeft.learn.pretrain.settings import STRATEGIES, PretrainSettings
from neuropeft.learn.tasks import CLASS_WEIGHTS, TASKS
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.fractions import FRACTION_METRICS
from neuropeft.preproc.external import GRIDS as EXTERNAL_GRIDS
from neuropeft.preproc.external import INTERPOLATIONS as EXTERNAL_INTERPOLATIONS
from neuropeft.preproc.external import ExternalSettings
from neuropeft.preproc.n4 import N4DwiSettings, N4Settings
from neuropeft.preproc.qc_metrics import QCMetricsSettings
from neuropeft.preproc.qc_table import ON_FLAG, QCTableSettings
from neuropeft.preproc.registration import INITIALISERS, METRICS, TRANSFORMS, RegistrationSettings
from neuropeft.preproc.resample import INTERPOLATORS, NORMALISATIONS, ResampleSettings
from neuropeft.preproc.skullstrip import T1W_METHODS, DwiSkullstripSettings, T1wSkullstripSettings
from neuropeft.preproc.tensor import FIT_METHODS, TensorSettings
from neuropeft.segment.methods import METHODS as SEGMENTATION_METHODS
from neuropeft.segment.models import SEGMENTATION_BACKBONES
from neuropeft.segment.train import SegmentationSettings
from neuropeft.workflow import DEVICES, ON_INVALID, WORKFLOW_TASKS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())

#: where each enum sits in config/schema.yaml (keys down from the top) -> the registry it must equal
ENUMS: dict[tuple[str, ...], Any] = {
    ("$defs", "entity_filter", "propertyNames", "not"): NOT_ACQUISITION,
    ("$defs", "registration", "properties", "transform"): TRANSFORMS,
    ("$defs", "registration", "properties", "metric"): METRICS,
    ("$defs", "registration", "properties", "init"): INITIALISERS,
    ("$defs", "model_grid", "properties", "interpolation"): INTERPOLATORS,
    ("$defs", "experiment", "properties", "backbone"): BACKBONES,
    ("$defs", "experiment", "properties", "method"): METHODS,
    ("$defs", "experiment", "properties", "head"): HEADS,
    ("$defs", "experiment", "properties", "monitor"): MONITORS,
    ("$defs", "experiment", "properties", "class_weights"): CLASS_WEIGHTS,
    ("$defs", "experiment", "properties", "modalities", "items"): MODALITIES,
    ("$defs", "experiment", "properties", "federated", "properties", "strategy"): FEDERATED_STRATEGIES,
    ("$defs", "pretrain", "properties", "backbone"): BACKBONES,
    ("$defs", "pretrain", "properties", "strategy"): STRATEGIES,
    ("properties", "task"): WORKFLOW_TASKS,
    ("$defs", "segmentation_experiment", "properties", "backbone"): SEGMENTATION_BACKBONES,
    ("$defs", "segmentation_experiment", "properties", "method"): SEGMENTATION_METHODS,
    ("properties", "modalities", "items"): MODALITIES,
    ("properties", "optional_modalities", "items"): MODALITIES,
    ("properties", "run_policy"): RUN_POLICIES,
    ("properties", "on_invalid"): ON_INVALID,
    ("properties", "on_subject_failure"): ON_SUBJECT_FAILURE,
    ("properties", "skullstrip_t1w", "properties", "method"): T1W_METHODS,
    ("properties", "skullstrip_t1w", "properties", "transform"): TRANSFORMS,
    ("properties", "tensor", "properties", "fit_method"): FIT_METHODS,
    ("properties", "qc", "properties", "on_flag"): ON_FLAG,
    ("properties", "folds", "properties", "group_by"): GROUP_BY,
    ("properties", "device"): DEVICES,
    ("properties", "metrics", "properties", "fraction_metric"): FRACTION_METRICS,
    ("properties", "images_table_options", "properties", "grid"): EXTERNAL_GRIDS,
    ("properties", "images_table_options", "properties", "interpolation"): EXTERNAL_INTERPOLATIONS,
    ("properties", "images_table_options", "properties", "normalise", "items"): NORMALISATIONS,
}

#: config section -> the settings dataclass(es) its step(s) read (see workflow/rules/common.smk STEP_SETTINGS
#: and the rules' --settings), and the section keys a rule sets itself or passes to another dataclass
SECTIONS: list[tuple[str, type, set[str]]] = [
    ("demo", DemoSettings, set()),
    ("n4_t1w", N4Settings, set()),
    ("n4_dwi", N4DwiSettings, set()),
    ("skullstrip_dwi", DwiSkullstripSettings, set()),
    ("skullstrip_t1w", T1wSkullstripSettings, set()),
    ("registration_dwi", RegistrationSettings, set()),
    ("registration_t1w", RegistrationSettings, set()),
    ("tensor", TensorSettings, set()),
    ("model_grid", ResampleSettings, set()),  # demo_model_grid is the demo's coarse grid, not a default
    ("qc", QCTableSettings, {"wm_threshold"}),  # the qc_subject rules pass wm_threshold to their measurements
    ("qc", QCMetricsSettings, set(QCTableSettings.__dataclass_fields__)),
    ("folds", FoldSettings, set()),
    ("metrics", MetricsSettings, set()),
    ("images_table_options", ExternalSettings, set()),
]
#: settings a rule adds to a section (not config keys): {dataclass: fields}
RULE_FIELDS = {
    ResampleSettings: {"normalise"},
    FoldSettings: {"task"},
    ExternalSettings: {"voxel_mm", "shape", "md_scale"},  # the model grid's
}


def _enums(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], list[Any]]:
    """Every ``enum`` of the schema by the keys leading to the object that holds it."""
    found: dict[tuple[str, ...], list[Any]] = {}
    if isinstance(node, dict):
        if "enum" in node:
            found[path] = node["enum"]
        for key, value in node.items():
            found.update(_enums(value, (*path, key)))
    return found


def _default(field: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]


def test_every_schema_enum_has_a_registry() -> None:
    assert set(_enums(SCHEMA)) == set(ENUMS), "map each new schema enum to its Python registry in ENUMS"


@pytest.mark.parametrize("where", sorted(ENUMS), ids="/".join)
def test_schema_enum_equals_its_registry(where: tuple[str, ...]) -> None:
    assert _enums(SCHEMA)[where] == list(ENUMS[where]), (
        f"config/schema.yaml {'/'.join(where)}: copy the registry's values"
    )


def test_bids_filter_modalities_are_the_layout_kinds() -> None:
    assert set(SCHEMA["properties"]["bids_filters"]["properties"]) == set(KINDS)


@pytest.mark.parametrize(
    ("section", "settings", "elsewhere"), SECTIONS, ids=[f"{s}-{c.__name__}" for s, c, _ in SECTIONS]
)
def test_dataclass_defaults_equal_config(section: str, settings: type, elsewhere: set[str]) -> None:
    fields = {f.name: _default(f) for f in dataclasses.fields(settings)}
    config = {k: v for k, v in CONFIG[section].items() if k not in elsewhere}
    assert set(config) == set(fields) - RULE_FIELDS.get(settings, set()), (
        f"{section} keys differ from {settings.__name__}'s fields"
    )
    assert {k: fields[k] for k in config} == config, f"config.yaml {section} defaults differ from {settings.__name__}'s"


def test_top_level_defaults_equal_the_dataclasses() -> None:
    assert CONFIG["task"] == ExperimentSettings.task == FoldSettings.task
    assert WORKFLOW_TASKS[: len(TASKS)] == TASKS  # the learning tasks, then segmentation
    assert CONFIG["device"] == DEVICES[0]


@pytest.mark.parametrize(
    ("entry", "settings"),
    [
        ("experiment", ExperimentSettings),
        ("pretrain", PretrainSettings),
        ("segmentation_experiment", SegmentationSettings),
    ],
)
def test_entry_keys_are_dataclass_fields(entry: str, settings: type) -> None:
    keys = set(SCHEMA["$defs"][entry]["properties"])
    assert keys <= {f.name for f in dataclasses.fields(settings)}


# --- the helper ------------------------------------------------------------------------------------


def test_an_allowed_value_is_returned() -> None:
    assert look_up_option("Affine", TRANSFORMS, "registration transform") == "Affine"
    assert look_up_option("lora", METHODS, "method") == "lora"  # a dict's keys
    assert look_up_options(["fa", "md"], ("fa", "md", "zscore"), "normalisation") == ["fa", "md"]


def test_a_bad_value_is_one_line_naming_the_allowed_ones_and_the_closest() -> None:
    with pytest.raises(NeuropeftError) as error:
        look_up_option("Afine", TRANSFORMS, "registration transform")
    assert (
        str(error.value)
        == "registration transform 'Afine' is not one of ['Rigid', 'Affine', 'SyN']; did you mean 'Affine'?"
    )


def test_no_suggestion_when_nothing_is_close_and_a_hint_comes_last() -> None:
    with pytest.raises(NeuropeftError) as error:
        look_up_option("Elastic", TRANSFORMS, "registration transform", hint="fix registration_t1w")
    assert (
        str(error.value)
        == "registration transform 'Elastic' is not one of ['Rigid', 'Affine', 'SyN']; fix registration_t1w"
    )
    assert "\n" not in str(error.value)


def test_suggestion_ignores_case_and_sets_are_listed_sorted() -> None:
    assert suggestion("wls", FIT_METHODS) == "WLS"
    assert suggestion("xyz", FIT_METHODS) is None
    with pytest.raises(
        NeuropeftError,
        match=r"^head 'MLP' is not one of \['conv', 'conv_l', 'conv_s', 'linear', 'mlp'\]; did you mean 'mlp'\?$",
    ):
        look_up_option("MLP", set(HEADS), "head")


def test_unhashable_and_non_string_values_are_refused_cleanly() -> None:
    with pytest.raises(NeuropeftError, match=r"^method \['lora'\] is not one of"):
        look_up_option(["lora"], METHODS, "method")
    with pytest.raises(NeuropeftError, match=r"^run_policy 3 is not one of \['last', 'first'\]$"):
        look_up_option(3, RUN_POLICIES, "run_policy")


def test_the_first_bad_value_of_a_list_is_named() -> None:
    with pytest.raises(NeuropeftError, match=r"^normalisation 'zscor' is not one of .*; did you mean 'zscore'\?$"):
        look_up_options(["fa", "zscor", "nope"], ("fa", "md", "zscore", "none"), "normalisation")
