"""The workflow on an images table (images prepared elsewhere): validation with bad rows reported
together, a fixed train/val/test split, training, metrics and the comparison; k folds without a split."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from neuropeft.preproc.template import template_brain_mask
from tests.workflow.snakemake_runner import job_counts, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

SPLITS = ["train"] * 8 + ["val"] * 4 + ["test"] * 4
BAD_ROWS = [
    {"participant_id": "sub-90", "path": "images/missing.nii.gz", "diagnosis": 1, "split": "train"},
    {"participant_id": "sub-91", "path": "images/sub-00_FA.nii.gz", "diagnosis": 0, "split": "tset"},
]


def _write_dataset(folder: Path, splits: bool = True) -> Path:
    """FA maps in MNI space (4 mm), a bright blob in the diagnosed subjects, and their table."""
    mask = template_brain_mask(4)
    brain = np.asarray(mask.dataobj) > 0
    grid = np.indices(brain.shape) - (np.asarray(brain.shape) // 2)[:, None, None, None]
    blob = (grid**2).sum(axis=0) < 36
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, split in enumerate(SPLITS):
        fa = np.where(brain, 0.4 + rng.normal(0, 0.03, brain.shape) + 0.2 * (i % 2) * blob, 0)
        nib.save(nib.Nifti1Image(fa.astype(np.float32), mask.affine), folder / f"images/sub-{i:02d}_FA.nii.gz")
        row = {"participant_id": f"sub-{i:02d}", "path": f"images/sub-{i:02d}_FA.nii.gz", "diagnosis": i % 2}
        rows.append({**row, "split": split} if splits else row)
    table = pd.DataFrame(rows + (BAD_ROWS if splits else []))
    table["site"] = "A"
    table.to_csv(folder / "images.tsv", sep="\t", index=False)
    return folder / "images.tsv"


def _config(folder: Path, table: Path, **extra: object) -> str:
    config = {
        "images_table": str(table),
        "images_table_options": {"normalise": ["fa"]},
        "model_grid": {"voxel_mm": 6, "shape": [24, 32, 24], "interpolation": "linear", "md_scale": 0.003},
        "folds": {"n_folds": 2, "val_fraction": 0.5},
        "experiments": [
            {"name": "table-lora", "backbone": "resnet10", "method": "lora", "head": "mlp", "lora_rank": 4}
            | {"epochs": 3, "batch_size": 4, "lr": 1.0e-3}
        ],
        "metrics": {"bootstrap": 50},
        **extra,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("images_table")
    config = _config(workdir, _write_dataset(workdir / "data"))
    result = snakemake(workdir, "--cores", "2", "--configfile", config)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result.stdout + result.stderr


def test_bad_rows_are_reported_together_and_listed_as_left_out(table_run: tuple[Path, str]) -> None:
    workdir, output = table_run
    assert "neuropeft: 2 of 18 rows excluded" in output
    assert "line 18 (sub-90): path file images/missing.nii.gz does not exist" in output
    assert "line 19 (sub-91): has split 'tset'; use one of train, val, test" in output
    excluded = pd.read_csv(workdir / "results/cohort/excluded.tsv", sep="\t")
    assert excluded["participant_id"].tolist() == ["sub-90", "sub-91"]
    assert "sub-90" in (workdir / "results/metrics/comparison.md").read_text()


def test_the_split_column_is_one_fixed_split_scored_on_its_test_rows(table_run: tuple[Path, str]) -> None:
    workdir, _ = table_run
    folds = pd.read_csv(workdir / "results/folds/folds.tsv", sep="\t", dtype=str)
    assert set(folds["fold"]) == {"0"} and folds["role"].tolist() == SPLITS
    array = np.load(workdir / "results/cohort/model_input.npy", mmap_mode="r")
    assert array.shape == (16, 1, 24, 32, 24) and np.isfinite(array).all() and array.max() <= 1.0
    predictions = pd.read_csv(workdir / "results/models/table-lora/fold-0/predictions.tsv", sep="\t", dtype=str)
    assert predictions["participant_id"].tolist() == [f"sub-{i:02d}" for i in range(12, 16)]
    auc = json.loads((workdir / "results/metrics/table-lora/summary.json").read_text())["metrics"]["auc"]
    assert auc["ci_low"] <= auc["pooled"] <= auc["ci_high"]
    comparison = (workdir / "results/metrics/comparison.md").read_text()
    assert f"{auc['pooled']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]" in comparison
    assert "One fixed split: each metric on its test subjects" in comparison
    assert not (workdir / "results/preproc").exists() and not (workdir / "results/qc").exists()


def test_a_finished_table_run_has_nothing_to_do(table_run: tuple[Path, str]) -> None:
    workdir, _ = table_run
    result = snakemake(workdir, "-n", "--configfile", str(workdir / "config.yaml"))
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr


def test_stop_policy_refuses_the_table_listing_every_problem(tmp_path: Path) -> None:
    config = _config(tmp_path, _write_dataset(tmp_path / "data"), on_invalid="stop")
    result = snakemake(tmp_path, "-n", "--configfile", config)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "2 problems in" in result.stderr and "sub-90" in result.stderr and "sub-91" in result.stderr


def test_a_table_without_a_split_column_gets_k_folds(tmp_path: Path) -> None:
    config = _config(tmp_path, _write_dataset(tmp_path / "data", splits=False))
    result = snakemake(tmp_path, "-n", "--configfile", config)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout)
    assert counts["validate_table"] == 1 and counts["stack_table"] == 1 and counts["train"] == 2
    assert not {"validate_cohort", "stack_model_input", "qc_table"} & set(counts)


def test_a_survival_table_passes_its_event_column_to_validation(tmp_path: Path) -> None:
    table = _write_dataset(tmp_path / "data", splits=False)
    frame = pd.read_csv(table, sep="\t")
    frame["years"], frame["died"] = np.arange(1, len(frame) + 1) * 0.5, np.arange(len(frame)) % 2
    frame.to_csv(table, sep="\t", index=False)
    config = _config(tmp_path, table, task="survival", target="years", event_column="died")
    result = snakemake(tmp_path, "-n", "-p", "--configfile", config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "--task survival --event-column died" in output
