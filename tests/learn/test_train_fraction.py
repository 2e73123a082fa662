"""Training-fraction ablation: a seeded, stratified subsample of the training subjects only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.learn.folds import FoldSettings, make_folds, read_index, subsample_training
from neuropeft.metrics.aggregate import aggregate_experiment
from neuropeft.metrics.config import MetricsSettings
from tests.learn.learn_synthetic import make_synthetic


def _train_part(labels: list[int], sessions: int = 1) -> pd.DataFrame:
    rows = [(f"sub-{i:03d}", f"ses-{s}", str(label)) for i, label in enumerate(labels) for s in range(sessions)]
    frame = pd.DataFrame(rows, columns=["participant_id", "session", "target"])
    frame.insert(0, "row", range(len(frame)))
    return frame


def _subjects(frame: pd.DataFrame) -> set[str]:
    return set(frame["participant_id"])


def test_half_keeps_half_of_each_class_with_all_sessions_deterministically() -> None:
    train = _train_part([0] * 12 + [1] * 8, sessions=2)
    half = subsample_training(train, 0.5, seed=3, task="auto", fold=0)
    assert len(_subjects(half)) == 10 and len(half) == 20  # subjects halve; every kept subject keeps both sessions
    assert half.groupby("participant_id").size().eq(2).all()
    assert half.drop_duplicates("participant_id")["target"].value_counts().to_dict() == {"0": 6, "1": 4}
    assert _subjects(subsample_training(train, 0.5, seed=3, task="auto", fold=0)) == _subjects(half)
    draws = {frozenset(_subjects(subsample_training(train, 0.5, seed=s, task="auto", fold=0))) for s in range(6)}
    assert len(draws) > 1  # the seed picks the subjects
    assert subsample_training(train, 1.0, seed=3, task="auto", fold=0) is train


def test_every_class_keeps_a_subject_and_impossible_fractions_are_refused() -> None:
    train = _train_part([0] * 18 + [1] * 2)
    small = subsample_training(train, 0.1, seed=0, task="classification", fold=2)
    assert small["target"].value_counts().to_dict() == {"0": 1, "1": 1}
    with pytest.raises(NeuropeftError, match=r"fold 2: train_fraction 0.05 keeps 1 of 20"):
        subsample_training(train, 0.05, seed=0, task="classification", fold=2)
    with pytest.raises(NeuropeftError, match=r"fewer than the 3 needed"):
        subsample_training(_train_part([0] * 9 + [1] * 9 + [2] * 2), 0.1, seed=0, task="classification", fold=0)
    with pytest.raises(NeuropeftError, match=r"must be in \(0, 1\]"):
        subsample_training(train, 1.5, seed=0, task="classification", fold=0)


def test_regression_subsample_spans_the_target_range() -> None:
    train = _train_part(list(range(40)))
    train["target"] = [f"{20 + 1.5 * i}" for i in range(40)]
    kept = subsample_training(train, 0.25, seed=1, task="regression", fold=0)["target"].astype(float)
    assert len(kept) == 10
    assert np.histogram(kept, bins=5, range=(20, 80.0))[0].tolist() == [2, 2, 2, 2, 2]


def test_train_fraction_halves_n_train_and_flows_to_the_summary(tmp_path: Path) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=24, side=16)
    folds = tmp_path / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=2, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    runs = {}
    for fraction in (1.0, 0.5):
        settings = {
            "name": f"f{fraction}",
            "backbone": "vit-tiny",
            "method": "linear_probe",
            "head": "linear",
            "epochs": 1,
            "train_fraction": fraction,
        }
        out = tmp_path / f"f{fraction}" / "fold-0"
        assert (
            cli_main(
                [
                    "train",
                    "--array",
                    str(array),
                    "--index",
                    str(index),
                    "--folds",
                    str(folds),
                    "--fold",
                    "0",
                    "--out-dir",
                    str(out),
                    "--device",
                    "cpu",
                    "--settings",
                    json.dumps(settings),
                ]
            )
            == 0
        )
        runs[fraction] = json.loads((out / "run.json").read_text())
        assert runs[fraction]["train_fraction"] == fraction
    assert runs[1.0]["n_train"] == 9 and runs[0.5]["n_train"] == 5  # 9 subjects × 0.5 rounds to 5
    assert runs[0.5]["n_val"] == runs[1.0]["n_val"] and runs[0.5]["n_test"] == runs[1.0]["n_test"]
    test_a = pd.read_csv(tmp_path / "f1.0" / "fold-0" / "predictions.tsv", sep="\t")["participant_id"]
    test_b = pd.read_csv(tmp_path / "f0.5" / "fold-0" / "predictions.tsv", sep="\t")["participant_id"]
    assert test_a.tolist() == test_b.tolist()
    summary = aggregate_experiment(
        "f0.5", [tmp_path / "f0.5" / "fold-0"], tmp_path / "metrics", MetricsSettings(bootstrap=10)
    )
    assert summary["train_fraction"] == 0.5
