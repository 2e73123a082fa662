"""One segmentation fold from the cohort stacks (train-segmentation), and its aggregation across folds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.table import comparison_frame, markdown_table
from neuropeft.segment.aggregate import aggregate_segmentation, subject_metrics
from neuropeft.segment.fold import read_classes
from tests.segment.synthetic import make_balls

N = 12


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cohort's stacks (12 subjects, bright and dark balls), index, classes and 2 folds."""
    folder = tmp_path_factory.mktemp("stacks")
    images, labels = make_balls(N, seed=0, dark=True)
    np.save(folder / "model_input.npy", images)
    np.save(folder / "labels.npy", labels.astype(np.uint8))
    subjects = [f"sub-{i:02d}" for i in range(N)]
    pd.DataFrame({"row": range(N), "participant_id": subjects, "session": "n/a", "target": "0", "site": "n/a"}).to_csv(
        folder / "model_input.tsv", sep="\t", index=False
    )
    pd.DataFrame({"class": [1, 2], "name": ["bright", "dark"]}).to_csv(folder / "classes.tsv", sep="\t", index=False)
    roles = [("train",) * 6 + ("val",) * 2 + ("test",) * 4, ("test",) * 4 + ("train",) * 6 + ("val",) * 2]
    rows = [(s, "n/a", k, roles[k][i]) for k in (0, 1) for i, s in enumerate(subjects)]
    pd.DataFrame(rows, columns=["participant_id", "session", "fold", "role"]).to_csv(
        folder / "folds.tsv", sep="\t", index=False
    )
    settings = {"name": "balls", "backbone": "unetr-tiny", "method": "scratch", "epochs": 10, "lr": 3e-3}
    settings |= {"warmup_epochs": 1, "batch_size": 2, "patience": 100}
    torch.set_num_threads(1)
    for fold in (0, 1):
        arguments = ["--array", str(folder / "model_input.npy"), "--labels", str(folder / "labels.npy")]
        arguments += ["--classes", str(folder / "classes.tsv"), "--index", str(folder / "model_input.tsv")]
        arguments += ["--folds", str(folder / "folds.tsv"), "--fold", str(fold), "--voxel-mm", "2"]
        arguments += ["--out-dir", str(folder / f"fold-{fold}"), "--device", "cpu", "--settings", json.dumps(settings)]
        assert cli_main(["train-segmentation", *arguments]) == 0
    return folder


def test_a_fold_scores_its_test_subjects_per_class_and_keeps_their_label_maps(stacks: Path) -> None:
    scores = pd.read_csv(stacks / "fold-0/predictions.tsv", sep="\t")
    assert list(scores.columns) == ["fold", "participant_id", "session", "class", "dice", "hd95"]
    assert scores["participant_id"].tolist() == [f"sub-{i:02d}" for i in range(8, 12) for _ in range(2)]
    assert scores["class"].tolist() == ["bright", "dark"] * 4
    assert scores["dice"].mean() > 0.5, scores  # chance (the balls' share of the volume) is ~0.03
    predicted = np.load(stacks / "fold-0/predicted_labels.npy")
    index = pd.read_csv(stacks / "fold-0/predicted_index.tsv", sep="\t")
    assert predicted.shape == (4, 32, 32, 32) and predicted.dtype == np.uint8
    assert index["row"].tolist() == list(range(8, 12))
    run = json.loads((stacks / "fold-0/run.json").read_text())
    assert run["task"] == "segmentation" and run["classes"] == ["bright", "dark"] and run["n_test"] == 4
    assert run["trainable_params"] == run["total_params"] > 0
    assert not (stacks / "fold-0/checkpoint.pt").exists()


def test_aggregation_means_per_fold_and_pooled_with_a_bootstrap_ci(stacks: Path, tmp_path: Path) -> None:
    settings = MetricsSettings(bootstrap=200, seed=0)
    summary = aggregate_segmentation(
        "balls",
        [stacks / "fold-0", stacks / "fold-1"],
        stacks / "model_input.npy",
        stacks / "labels.npy",
        tmp_path,
        settings,
    )
    scores = pd.concat(pd.read_csv(stacks / f"fold-{k}/predictions.tsv", sep="\t") for k in (0, 1))
    bright = scores[scores["class"] == "bright"]
    per_fold = bright.groupby("fold")["dice"].mean()
    assert summary["metrics"]["dice_bright"]["mean"] == pytest.approx(per_fold.mean())
    assert summary["metrics"]["dice_bright"]["sd"] == pytest.approx(per_fold.std(ddof=1))
    assert summary["metrics"]["dice_bright"]["pooled"] == pytest.approx(bright["dice"].mean())
    dice = summary["metrics"]["dice"]
    assert dice["ci_low"] <= dice["pooled"] <= dice["ci_high"]
    assert dice["pooled"] == pytest.approx(scores.groupby(["fold", "participant_id"])["dice"].mean().mean())
    for name in ("summary.json", "fold_metrics.tsv", "subject_metrics.tsv", "dice.png", "curves.png", "qc.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    runs = sorted(stacks.glob("fold-*/run.json"))
    frame = comparison_frame([tmp_path / "summary.json"], runs, settings)
    header = markdown_table(frame).splitlines()[0]
    assert "| Dice | Dice bright | Dice dark | HD95 (mm) | HD95 bright (mm) | HD95 dark (mm) |" in header


def test_a_class_absent_from_both_maps_is_left_out_of_the_means() -> None:
    scores = pd.DataFrame(
        {
            "fold": 0,
            "participant_id": ["a", "a", "b", "b"],
            "session": "n/a",
            "class": ["x", "y"] * 2,
            "dice": [0.8, np.nan, 0.6, 0.4],
            "hd95": [2.0, np.nan, 4.0, 6.0],
        }
    )
    table = subject_metrics(scores)
    assert table["dice"].tolist() == pytest.approx([0.8, 0.5])
    assert table["hd95_y"].isna().tolist() == [True, False]


def test_classes_table_must_number_its_classes_in_order(tmp_path: Path) -> None:
    path = tmp_path / "classes.tsv"
    pd.DataFrame({"class": [2, 1], "name": ["b", "a"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(NeuropeftError, match="numbered 1..2 in order"):
        read_classes(path)
