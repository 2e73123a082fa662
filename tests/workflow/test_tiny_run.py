"""The whole workflow on the tiny demo cohort: derivative names, results, and what a rerun redoes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.snakemake_runner import TINY, job_counts, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

PER_SUBJECT = [
    "results/preproc/{s}/dwi/{s}_desc-n4_dwi.nii.gz",
    "results/preproc/{s}/dwi/{s}_desc-biasfield_dwiref.nii.gz",
    "results/preproc/{s}/dwi/{s}_desc-brain_mask.nii.gz",
    "results/preproc/{s}/dwi/{s}_model-DTI_FA.nii.gz",
    "results/preproc/{s}/dwi/{s}_model-DTI_MD.nii.gz",
    "results/preproc/{s}/dwi/{s}_from-dwiref_to-MNI152NLin2009aSym_transforms.json",
    "results/model_input/{s}/{s}_space-MNI152NLin2009aSym_desc-dwi_model.nii.gz",
    "results/qc/{s}/{s}_dwi_colorFA.png",
]
PREPROC_STEPS = ("n4_dwi", "skullstrip_dwi", "fit_tensor", "register_dwi", "resample_dwi", "qc_subject_dwi")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = snakemake(workdir, "--cores", "2", "--configfile", TINY)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_subject_has_its_derivatives_and_sidecars(tiny_run: Path) -> None:
    subjects = pd.read_csv(tiny_run / "results/cohort/cohort.tsv", sep="\t", dtype=str)["participant_id"]
    assert len(subjects) == 8
    for subject in subjects:
        for pattern in PER_SUBJECT:
            path = tiny_run / pattern.format(s=subject)
            assert path.is_file() and path.stat().st_size > 0, path
            if path.name.endswith(".nii.gz"):
                sidecar = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
                assert "versions" in sidecar and "settings" in sidecar, path


def test_model_input_stack_and_results(tiny_run: Path) -> None:
    import numpy as np

    array = np.load(tiny_run / "results/cohort/model_input.npy", mmap_mode="r")
    config = yaml.safe_load(Path(TINY).read_text())
    assert array.shape == (8, 2, *config["demo_model_grid"]["shape"])
    assert np.isfinite(array).all() and array.std() > 0
    comparison = (tiny_run / "results/metrics/comparison.md").read_text()
    assert "tiny-lora" in comparison and "AUC" in comparison
    predictions = pd.concat(
        pd.read_csv(tiny_run / f"results/models/tiny-lora/fold-{k}/predictions.tsv", sep="\t") for k in (0, 1)
    )
    assert sorted(predictions["participant_id"]) == [f"sub-{i:03d}" for i in range(1, 9)]


def test_a_finished_run_has_nothing_to_do(tiny_run: Path) -> None:
    result = snakemake(tiny_run, "-n", "--configfile", TINY)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changed_n4_setting_reruns_n4_and_downstream_only(tiny_run: Path, tmp_path: Path) -> None:
    override = tmp_path / "n4.yaml"
    override.write_text(yaml.safe_dump({"n4_dwi": {"shrink_factor": 2}}))
    result = snakemake(tiny_run, "-n", "--configfile", TINY, str(override))
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    for step in PREPROC_STEPS:
        assert counts.get(step) == 8, (step, counts)
    assert (
        "demo_cohort_subject" not in counts and "demo_cohort_dataset" not in counts and "validate_cohort" not in counts
    )
    assert counts.get("train") == 2 and counts.get("compare_experiments") == 1


def test_changed_metric_option_reruns_only_aggregation(tiny_run: Path, tmp_path: Path) -> None:
    override = tmp_path / "metrics.yaml"
    override.write_text(yaml.safe_dump({"metrics": {"bootstrap": 20}}))
    result = snakemake(tiny_run, "-n", "--configfile", TINY, str(override))
    counts = job_counts(result.stdout + result.stderr)
    assert set(counts) == {"aggregate_experiment", "compare_experiments", "record_run", "all"}, (
        counts
    )  # the record holds the config


def test_report_embeds_the_comparison_table(tiny_run: Path) -> None:
    import base64

    result = snakemake(tiny_run, "--report", "report.html", "--configfile", TINY)
    assert result.returncode == 0, result.stderr[-2000:]
    html = (tiny_run / "report.html").read_text()
    table = (tiny_run / "results/metrics/comparison.md").read_bytes()
    assert "tiny-lora" in html
    assert base64.b64encode(table).decode() in html  # the table travels inside the one HTML file


def test_a_second_grid_adds_only_its_resampling_stack_and_experiment(tiny_run: Path, tmp_path: Path) -> None:
    import numpy as np

    # last in this module: it changes the run's experiments
    config = yaml.safe_load(Path(TINY).read_text())
    coarse = {"name": "tiny-coarse", "backbone": "resnet10", "method": "scratch", "epochs": 2, "batch_size": 2}
    override = tmp_path / "grid.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "model_grids": {"coarse": {"voxel_mm": 7.5, "shape": [20, 24, 20]}},
                "experiments": [*config["experiments"], {**coarse, "grid": "coarse"}],
            }
        )
    )
    result = snakemake(tiny_run, "--cores", "2", "--configfile", TINY, str(override))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    counts = job_counts(output)
    assert counts["resample_dwi"] == 8 and counts["stack_model_input"] == 1 and counts["train"] == 2, counts
    assert not {"n4_dwi", "register_dwi", "fit_tensor", "pretrain"} & set(counts), counts
    stack = np.load(tiny_run / "results/cohort/model_input_res-coarse.npy", mmap_mode="r")
    assert stack.shape == (8, 2, 20, 24, 20) and stack.std() > 0
    volume = tiny_run / "results/model_input/sub-001/sub-001_space-MNI152NLin2009aSym_res-coarse_desc-dwi_model.nii.gz"
    assert (
        json.loads(volume.with_name(volume.name.replace(".nii.gz", ".json")).read_text())["settings"]["voxel_mm"] == 7.5
    )
    comparison = (tiny_run / "results/metrics/comparison.md").read_text()
    assert "tiny-lora" in comparison and "tiny-coarse" in comparison
