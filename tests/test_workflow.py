"""Parse-time helpers of the Snakefile (neuropeft.workflow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from neuropeft.errors import NeuropeftError
from neuropeft.workflow import (
    DEMO_SUBJECT_FILES,
    absent_modalities,
    combine_options,
    covariate_columns,
    event_column,
    experiment_settings,
    fold_numbers,
    fold_settings,
    images_table,
    init_checkpoints,
    modality_options,
    model_grids,
    pretrain_settings,
    resolve_task,
    run_grids,
    segmentation_experiments,
    segmentation_labels,
    settings_json,
    subject_table,
    train_uses_gpu,
    uses_demo,
)
from tests.test_config import ROOT


@pytest.fixture()
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_settings_json_is_stable_and_round_trips() -> None:
    assert settings_json({"b": 1, "a": [1, 2]}) == settings_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'
    assert json.loads(settings_json({"x": 0.5})) == {"x": 0.5}


def test_demo_subjects_are_known_without_the_dataset(config: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config["demo"]["n_subjects"] = 4
    records, task = subject_table(config, tmp_path)
    assert [r["participant_id"] for r in records] == ["sub-001", "sub-002", "sub-003", "sub-004"]
    assert task == "classification"
    assert records[3]["bvec"] == "results/demo/bids/sub-004/dwi/sub-004_dwi.bvec"
    assert records[3]["bvec"] == DEMO_SUBJECT_FILES["bvec"].format(sub="sub-004")


def test_demo_age_target_is_a_regression(config: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config["target"] = "age"
    assert subject_table(config, tmp_path)[1] == "regression"
    config["target"] = "iq"
    with pytest.raises(
        NeuropeftError, match=r"demo target column 'iq' is not one of \['age', 'diagnosis', 'sex', 'site', 'time'\]"
    ):
        subject_table(config, tmp_path)


def test_task_resolution(config: dict) -> None:
    assert resolve_task(config, "continuous") == "regression"
    assert resolve_task(config, "multiclass") == "classification"
    config["task"] = "regression"
    assert resolve_task(config, "binary") == "regression"


def test_experiments_get_the_task_and_need_unique_names(config: dict) -> None:
    experiments = experiment_settings(config, "classification")
    assert list(experiments) == [e["name"] for e in config["experiments"]]
    assert all(e["task"] == "classification" for e in experiments.values())
    config["experiments"].append(dict(config["experiments"][0]))
    with pytest.raises(NeuropeftError, match="used twice"):
        experiment_settings(config, "classification")


def test_training_holds_a_gpu_unless_on_cpu(config: dict) -> None:
    config["device"] = "cpu"
    assert not train_uses_gpu(config)
    config["device"] = "cuda"
    assert train_uses_gpu(config)


def test_pretrain_init_maps_to_its_checkpoint_and_checks_the_backbone(config: dict) -> None:
    pretrain = pretrain_settings(
        {"pretrain": [{"name": "recon", "backbone": "resnet10", "strategy": "reconstruction"}]}
    )
    experiment = {"name": "e", "backbone": "resnet10", "init": "pretrain:recon"}
    assert init_checkpoints(experiment, pretrain, "results") == ["results/pretrain/recon/backbone.safetensors"]
    assert init_checkpoints({"name": "e", "init": "random"}, pretrain, "results") == []
    with pytest.raises(NeuropeftError, match="names no pretrain entry"):
        init_checkpoints({**experiment, "init": "pretrain:other"}, pretrain, "results")
    with pytest.raises(NeuropeftError, match="same backbone"):
        init_checkpoints({**experiment, "backbone": "resnet18"}, pretrain, "results")


def test_each_run_reads_its_grids_stack_and_pretraining_shares_the_grid(config: dict) -> None:
    grids = model_grids({**config, "model_grids": {"sam": {"voxel_mm": 1.5, "shape": [128, 128, 128]}}})
    assert list(grids) == ["", "sam"] and grids[""] == config["demo_model_grid"]  # the demo's default grid
    pretrain = {"recon": {"name": "recon", "grid": "sam"}}
    experiments = {
        "resnet": {"name": "resnet"},
        "sam": {"name": "sam", "grid": "sam", "init": "pretrain:recon"},
    }
    assert run_grids(experiments, pretrain, grids) == ({"resnet": "", "sam": "_res-sam"}, {"recon": "_res-sam"})
    with pytest.raises(
        NeuropeftError, match="cannot start from pretrain 'recon' \\(grid 'sam'\\); pre-train on the grid"
    ):
        run_grids({**experiments, "resnet": {"name": "resnet", "init": "pretrain:recon"}}, pretrain, grids)
    with pytest.raises(NeuropeftError, match="pretrain 'recon': grid 'big' is not defined"):
        run_grids(experiments, {"recon": {"name": "recon", "grid": "big"}}, grids)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bids_dir": "/data/bids"}, "set bids_dir or images_table, not both"),
        ({"external_bids_dir": "/data/ext"}, "external_bids_dir cannot be combined with images_table"),
    ],
)
def test_an_images_table_is_the_only_dataset(config: dict, extra: dict, message: str) -> None:
    with pytest.raises(NeuropeftError, match=message):
        images_table({**config, "images_table": "images.tsv", **extra})


def test_an_images_table_is_not_the_demo_and_a_fixed_split_is_fold_zero(config: dict) -> None:
    table = {**config, "images_table": "images.tsv"}
    assert not uses_demo(table) and model_grids(table)[""] == config["model_grid"]
    assert fold_numbers(config, fixed_split=True) == [0]
    assert fold_numbers(config) == list(range(config["folds"]["n_folds"]))
    assert fold_settings(config, "classification", [], fixed_split=True)["split_column"] == "split"


def _labelled_subject(root: Path, stem: str, names: list[str]) -> dict[str, str]:
    folder = root / "derivatives" / "dlmuse" / stem / "anat"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return {"stem": stem, "key": stem}


def test_each_subject_gets_its_one_label_map_by_desc(config: dict, tmp_path: Path) -> None:
    seg = {**config, "bids_dir": str(tmp_path), "task": "segmentation", "modalities": ["t1w"]}
    seg["segmentation"] = {**config["segmentation"], "labels_dir": "derivatives/dlmuse", "desc": "DLMUSE"}
    subjects = [
        _labelled_subject(tmp_path, "sub-01", ["sub-01_desc-DLMUSE_dseg.nii.gz", "sub-01_desc-other_dseg.nii.gz"]),
        _labelled_subject(tmp_path, "sub-02", ["sub-02_desc-DLMUSE_dseg.nii.gz"]),
    ]
    found = segmentation_labels(seg, subjects)
    assert found == {
        s: str(tmp_path / f"derivatives/dlmuse/{s}/anat/{s}_desc-DLMUSE_dseg.nii.gz") for s in ("sub-01", "sub-02")
    }
    subjects.append(_labelled_subject(tmp_path, "sub-03", ["sub-03_desc-other_dseg.nii.gz"]))
    with pytest.raises(
        NeuropeftError, match=r"1 subject\(s\) have not exactly one .*desc-DLMUSE.*: sub-03 \(0 found\)"
    ):
        segmentation_labels(seg, subjects)
    seg["segmentation"] = {**seg["segmentation"], "desc": ""}
    with pytest.raises(NeuropeftError, match=r"sub-01 \(2 found\); add them or set segmentation.desc"):
        segmentation_labels(seg, subjects[:1])


def test_segmentation_needs_the_t1w_and_no_external_set(config: dict) -> None:
    seg = {**config, "task": "segmentation"}
    with pytest.raises(NeuropeftError, match="add t1w to modalities"):
        segmentation_experiments(seg)
    with pytest.raises(NeuropeftError, match="does not score an external_bids_dir"):
        segmentation_experiments({**seg, "modalities": ["t1w"], "external_bids_dir": "/data/ext"})
    assert list(segmentation_experiments({**seg, "modalities": ["t1w"]})) == [
        e["name"] for e in config["segmentation_experiments"]
    ]


def test_survival_reads_the_event_column_and_the_demo_outcome(config: dict, tmp_path: Path) -> None:
    assert event_column(config) == ""  # only task survival reads it
    survival = {**config, "task": "survival", "target": "time"}
    assert event_column(survival) == "event"
    assert subject_table(survival, tmp_path)[1] == "survival"
    with pytest.raises(NeuropeftError, match="target: time with event_column: event"):
        subject_table({**survival, "target": "age"}, tmp_path)


def test_survival_refuses_what_it_cannot_do_yet(config: dict) -> None:
    survival = {**config, "task": "survival", "target": "time"}
    with pytest.raises(
        NeuropeftError, match=r"federated experiments take classification targets; remove \['resnet10-lora-fedavg'\]"
    ):
        experiment_settings(survival, "survival")
    centralised = [e for e in config["experiments"] if not e.get("federated")]
    assert set(experiment_settings({**survival, "experiments": centralised}, "survival")) == {
        e["name"] for e in centralised
    }
    with pytest.raises(NeuropeftError, match="does not score an external_bids_dir"):
        experiment_settings({**survival, "experiments": centralised, "external_bids_dir": "/data/ext"}, "survival")


def test_the_survival_config_file_has_no_federated_experiment(config: dict) -> None:
    survival = {**config, **yaml.safe_load((ROOT / "config" / "survival.yaml").read_text())}
    assert set(experiment_settings(survival, "survival")) == {e["name"] for e in survival["experiments"]}


def test_covariates_are_validated_and_refused_where_they_cannot_be_read(config: dict) -> None:
    with_covariates = [
        {**config["experiments"][0], "covariates": ["age", "sex"]},
        {**config["experiments"][2], "name": "full-site", "covariates": ["site"]},
    ]
    assert covariate_columns({**config, "experiments": with_covariates}) == ["age", "sex", "site"]
    assert covariate_columns(config) == []
    assert covariate_columns({**config, "experiments": with_covariates, "task": "segmentation"}) == []
    with pytest.raises(NeuropeftError, match="an external_bids_dir cannot be scored with them yet"):
        experiment_settings(
            {**config, "external_bids_dir": "/data/ext", "experiments": with_covariates}, "classification"
        )
    with_table = {**config, "images_table": "images.tsv", "experiments": with_covariates}
    assert set(experiment_settings(with_table, "classification")) == {"resnet10-lora", "full-site"}
    federated = [{**config["experiments"][3], "covariates": ["age"]}]
    with pytest.raises(
        NeuropeftError, match=r"federated experiment\(s\) \['resnet10-lora-fedavg'\] cannot take covariates"
    ):
        experiment_settings({**config, "experiments": federated}, "classification")


def _two_modalities(config: dict, *experiments: dict) -> dict:
    return {**config, "modalities": ["t1w", "dwi"], "experiments": list(experiments)}


def test_a_multi_modal_stack_tells_each_experiment_its_modalities(config: dict) -> None:
    assert "stack_modalities" not in experiment_settings(config, "classification")["resnet10-lora"]
    both = _two_modalities(config, {"name": "a", "modalities": ["t1w"]})
    assert experiment_settings(both, "classification")["a"]["stack_modalities"] == ["t1w", "dwi"]
    with pytest.raises(NeuropeftError, match="several modalities"):
        experiment_settings({**config, "experiments": [{"name": "a", "modalities": ["dwi"]}]}, "classification")
    with pytest.raises(NeuropeftError, match=r"modalities \['t1w'\] are not in"):
        experiment_settings(
            {**config, "modalities": ["dwi"], "experiments": [{"name": "a", "modalities": ["t1w"]}]}, "classification"
        )


@pytest.mark.parametrize(
    ("adapted", "source", "message"),
    [
        ({"cross_modal": {"from": "missing"}}, {}, "must name another experiment"),
        ({"cross_modal": {"from": "a"}, "method": "full"}, {}, "method lora or dora"),
        ({"cross_modal": {"from": "a"}}, {"modalities": ["t1w", "dwi"]}, "at least one more"),
        ({"cross_modal": {"from": "a"}, "backbone": "vit-tiny"}, {}, "backbone, head and grid"),
        ({"cross_modal": {"from": "a"}, "init": "pretrain:x"}, {}, "no init of its own"),
        ({"cross_modal": {"from": "a"}, "covariates": ["age"]}, {}, "no covariates"),
        ({"cross_modal": {"from": "a"}}, {"federated": {"rounds": 1}}, "neither experiment federated"),
    ],
)
def test_a_cross_modal_experiment_must_be_able_to_adapt_its_source(
    config: dict, adapted: dict, source: dict, message: str
) -> None:
    settings = _two_modalities(config, {"name": "a", "modalities": ["t1w"], **source}, {"name": "b", **adapted})
    with pytest.raises(NeuropeftError, match=message):
        experiment_settings(settings, "classification")


def test_the_cross_modal_config_file_is_accepted(config: dict) -> None:
    extra = yaml.safe_load((ROOT / "config" / "cross_modal.yaml").read_text())
    experiments = experiment_settings({**config, **extra}, "classification")
    assert experiments["t1w-to-dwi-lora"]["cross_modal"] == {"from": "t1w-full"}


def _optional(config: dict, **changes: object) -> dict:
    """The default config with both modalities, DWI optional, and ``changes`` (demo: merged)."""
    demo = {**config["demo"], **changes.pop("demo", {})}  # type: ignore[dict-item]
    return {**config, "modalities": ["t1w", "dwi"], "optional_modalities": ["dwi"], "demo": demo, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"optional_modalities": ["t1w"], "modalities": ["dwi"]},
            r"optional_modalities \['t1w'\] are not in modalities",
        ),
        ({"optional_modalities": ["t1w", "dwi"]}, "leave no modality required"),
        ({"optional_modalities": [], "demo": {"missing_dwi_fraction": 0.25}}, "set optional_modalities: \\[dwi\\]"),
    ],
)
def test_bad_optional_modalities_are_refused_in_one_line(
    config: dict, tmp_path: Path, changes: dict, message: str
) -> None:
    with pytest.raises(NeuropeftError, match=message) as error:
        subject_table(_optional(config, **changes), tmp_path)
    assert "\n" not in str(error.value)


def test_optional_modalities_are_refused_with_an_images_table(config: dict) -> None:
    with pytest.raises(NeuropeftError, match="optional_modalities apply to a BIDS dataset"):
        images_table(_optional(config, images_table="images.tsv"))


def test_segmentation_refuses_an_optional_t1w(config: dict) -> None:
    with pytest.raises(NeuropeftError, match="remove t1w from optional_modalities"):
        segmentation_experiments({**config, "modalities": ["t1w", "dwi"], "optional_modalities": ["t1w"]})


def test_a_subject_lacking_dwi_combines_zeros_in_the_modalities_order(config: dict, tmp_path: Path) -> None:
    changed = _optional(config, demo={"missing_dwi_fraction": 0.25})
    records, _ = subject_table(changed, tmp_path)
    without = next(r for r in records if not r["dwi"])
    with_dwi = next(r for r in records if r["dwi"])
    assert absent_modalities(without, changed) == ["dwi"] and absent_modalities(with_dwi, changed) == []
    assert combine_options(without, changed) == "--modalities t1w dwi --absent dwi:2"
    assert combine_options(with_dwi, changed) == ""
    assert modality_options(changed) == "--optional-modalities dwi" and modality_options(config) == ""
