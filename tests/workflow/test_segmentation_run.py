"""The segmentation workflow on the tiny demo cohort: its tissue classes as the target, a tiny UNETR
fine-tuned fold by fold, Dice/HD95 in the comparison, and the predictions back in native T1w space."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.workflow.snakemake_runner import TINY, job_counts, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

EXPERIMENTS = [
    {"name": "seg-scratch", "backbone": "unetr-tiny", "method": "scratch", "epochs": 6, "lr": 3.0e-3},
    {"name": "seg-lora", "backbone": "unetr-tiny", "method": "lora", "lora_train_decoder": True, "epochs": 2},
]


def _config(folder: Path) -> str:
    config = {"task": "segmentation", "modalities": ["t1w"], "segmentation_experiments": EXPERIMENTS}
    path = folder / "segmentation.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("segmentation_run")
    result = snakemake(workdir, "--cores", "2", "--configfile", TINY, _config(workdir))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_the_plan_has_label_rules_and_no_classifier(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--configfile", TINY, _config(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout)
    assert counts["resample_labels"] == 8 and counts["stack_labels"] == 1
    assert counts["train_segmentation"] == 4 and counts["aggregate_segmentation"] == 2
    assert counts["segmentation_to_native"] == 2
    assert not {"train", "pretrain", "aggregate_experiment", "fit_tensor"} & set(counts)


def test_labels_are_stacked_beside_the_images_as_classes(segmentation_run: Path) -> None:
    images = np.load(segmentation_run / "results/cohort/model_input.npy", mmap_mode="r")
    labels = np.load(segmentation_run / "results/cohort/labels.npy")
    assert labels.shape == (images.shape[0], *images.shape[2:]) and set(np.unique(labels)) == {0, 1, 2, 3}
    classes = pd.read_csv(segmentation_run / "results/cohort/classes.tsv", sep="\t")
    assert classes["name"].tolist() == ["CSF", "GM", "WM"]
    brain = images[:, 0] != 0  # the skull-stripped T1w on the grid: labels lie on it
    assert (labels[brain] > 0).mean() > 0.8 and (labels[~brain] > 0).mean() < 0.2


def test_comparison_reports_dice_per_class_and_scratch_learns(segmentation_run: Path) -> None:
    table = pd.read_csv(segmentation_run / "results/metrics/comparison.tsv", sep="\t")
    assert table["experiment"].tolist() == ["seg-scratch", "seg-lora"]
    for name in ("dice_CSF", "dice_GM", "dice_WM", "hd95_WM"):
        assert name in table.columns
    assert table.loc[0, "dice_WM_mean"] > 0.3  # chance for WM (its share of the grid) is about 0.1
    assert "Dice WM" in (segmentation_run / "results/metrics/comparison.md").read_text()


def test_predictions_are_written_back_in_each_subjects_t1w_space(segmentation_run: Path) -> None:
    folder = segmentation_run / "results/segmentations/seg-scratch"
    written = sorted(folder.glob("sub-*/anat/sub-*_desc-segscratch_dseg.nii.gz"))
    assert len(written) == 8
    first = nib.load(written[0])
    t1w = nib.load(segmentation_run / "results/demo/bids/sub-001/anat/sub-001_T1w.nii.gz")
    assert first.shape == t1w.shape and np.allclose(first.affine, t1w.affine)
    truth = np.asarray(
        nib.load(
            segmentation_run / "results/demo/bids/derivatives/tissue/sub-001/anat/sub-001_desc-tissue_dseg.nii.gz"
        ).dataobj
    )
    predicted = np.asarray(first.dataobj)
    assert set(np.unique(predicted)) <= {0, 1, 2, 3}
    overlap = 2 * ((predicted > 0) & (truth > 0)).sum() / ((predicted > 0).sum() + (truth > 0).sum())
    assert overlap > 0.7  # the predicted brain lands on the true one in the subject's own space
