"""Scoring with a trained fold model reproduces its own test predictions and refuses foreign inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from tests.learn.learn_synthetic import make_synthetic


def _train_fold(root: Path, settings: dict, regression: bool = False) -> tuple[Path, Path, Path]:
    """Train fold 1 of a tiny synthetic cohort; return array, index and the fold folder."""
    array, index = make_synthetic(root, n_subjects=16, side=16)
    if regression:
        table = pd.read_csv(index, sep="\t")
        table["target"] = 40 + 2.5 * np.arange(16) + 0.25
        table.to_csv(index, sep="\t", index=False)
    folds = root / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=2, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    out = root / "fold-1"
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
                "1",
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
    return array, index, out


def _predict(array: Path, index: Path, model_dir: Path, out: Path, *extra: str) -> int:
    return cli_main(
        [
            "predict",
            "--array",
            str(array),
            "--index",
            str(index),
            "--model-dir",
            str(model_dir),
            "--out",
            str(out),
            "--device",
            "cpu",
            *extra,
        ]
    )


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"participant_id": str, "session": str}, keep_default_na=False)


@pytest.mark.parametrize(
    ("settings", "regression", "weights"),
    [
        ({"backbone": "resnet10", "method": "lora", "lora_rank": 2, "head_hidden": 16}, False, "adapter"),
        (
            {"backbone": "resnet10", "method": "linear_probe", "head": "conv", "head_hidden": 8},
            False,
            "weights.safetensors",
        ),
        ({"backbone": "vit-tiny", "method": "full", "head": "linear"}, True, "weights.safetensors"),
    ],
)
def test_predicting_the_test_subjects_reproduces_the_fold_predictions(
    tmp_path: Path, settings: dict, regression: bool, weights: str
) -> None:
    settings = {**settings, "epochs": 2, "lr": 1e-2, "batch_size": 3, "seed": 7}
    array, index, fold_dir = _train_fold(tmp_path, settings, regression)
    assert (fold_dir / weights).exists()
    expected = _read(fold_dir / "predictions.tsv")
    table = read_index(index)
    test_index = table.set_index("participant_id").loc[expected["participant_id"]].reset_index()[table.columns]
    test_index.to_csv(tmp_path / "test.tsv", sep="\t", index=False)  # the test rows only, in the fold's order
    assert _predict(array, tmp_path / "test.tsv", fold_dir, tmp_path / "again.tsv") == 0
    pd.testing.assert_frame_equal(_read(tmp_path / "again.tsv"), expected, check_exact=True)

    assert _predict(array, index, fold_dir, tmp_path / "all.tsv", "--batch-size", "5") == 0
    every = _read(tmp_path / "all.tsv")
    assert list(every.columns) == list(expected.columns) and len(every) == 16
    assert every["participant_id"].tolist() == table["participant_id"].tolist() and (every["fold"] == 1).all()
    same = every.set_index("participant_id").loc[expected["participant_id"]].reset_index()
    value_columns = [c for c in expected.columns if c.startswith("prob_")] or ["y_pred"]
    np.testing.assert_allclose(
        same[value_columns].to_numpy(float), expected[value_columns].to_numpy(float), rtol=1e-5, atol=1e-6
    )


def test_unknown_targets_and_foreign_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = {"backbone": "vit-tiny", "method": "linear_probe", "head": "linear", "epochs": 1}
    array, index, fold_dir = _train_fold(tmp_path, settings)
    table = pd.read_csv(index, sep="\t", dtype=str, keep_default_na=False)
    table["target"] = ["n/a"] * 8 + ["1"] * 4 + [""] * 4
    table.to_csv(tmp_path / "unlabelled.tsv", sep="\t", index=False)
    assert _predict(array, tmp_path / "unlabelled.tsv", fold_dir, tmp_path / "p.tsv") == 0
    scored = pd.read_csv(tmp_path / "p.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert scored["y_true"].tolist() == [""] * 8 + ["1"] * 4 + [""] * 4
    assert set(scored["y_pred"]) <= {"0", "1"}
    np.testing.assert_allclose(scored[["prob_0", "prob_1"]].astype(float).sum(axis=1), 1, rtol=1e-6)

    table["target"] = "2"
    table.to_csv(tmp_path / "foreign.tsv", sep="\t", index=False)
    assert _predict(array, tmp_path / "foreign.tsv", fold_dir, tmp_path / "q.tsv") == 1
    assert "['2'] are not among the model's classes ['0', '1']" in capsys.readouterr().err

    two_channels = tmp_path / "two.npy"
    np.save(two_channels, np.zeros((16, 2, 16, 16, 16), dtype=np.float32))
    assert _predict(two_channels, index, fold_dir, tmp_path / "r.tsv") == 1
    err = capsys.readouterr().err
    assert "shape [2, 16, 16, 16]" in err and "takes [1, 16, 16, 16]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q.tsv").exists() and not (tmp_path / "r.tsv").exists()

    assert _predict(array, index, tmp_path, tmp_path / "s.tsv") == 1
    assert "train that fold first" in capsys.readouterr().err


def test_a_survival_model_scores_its_test_subjects_as_in_its_fold(tmp_path: Path) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=16, side=16)
    table = pd.read_csv(index, sep="\t")
    table["target"] = [f"{1 + i}:{int(i % 3 != 0)}" for i in range(16)]
    table.to_csv(index, sep="\t", index=False)
    folds = tmp_path / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=2, val_fraction=0.25, task="survival")).to_csv(
        folds, sep="\t", index=False
    )
    settings = {"backbone": "vit-tiny", "method": "full", "head": "linear", "task": "survival", "epochs": 1}
    out = tmp_path / "fold-0"
    command = ["train", "--array", str(array), "--index", str(index), "--folds", str(folds), "--fold", "0"]
    assert cli_main([*command, "--out-dir", str(out), "--device", "cpu", "--settings", json.dumps(settings)]) == 0
    expected = _read(out / "predictions.tsv")
    assert list(expected.columns) == ["participant_id", "session", "fold", "time", "event", "risk"]
    assert _predict(array, index, out, tmp_path / "all.tsv") == 0
    every = _read(tmp_path / "all.tsv").set_index("participant_id").loc[expected["participant_id"]]
    np.testing.assert_allclose(every["risk"].astype(float), expected["risk"].astype(float), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(every["time"].astype(float), expected["time"].astype(float))
