"""Training: it learns a planted effect, resumes exactly, and writes the output contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file
from sklearn.metrics import roc_auc_score

from neuropeft.cli import main as cli_main
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.outcomes import concordance
from tests.learn.learn_synthetic import make_synthetic


def _folds(index_path: Path, n_folds: int, val_fraction: float = 0.25) -> Path:
    out = index_path.parent / "folds.tsv"
    make_folds(read_index(index_path), FoldSettings(n_folds=n_folds, val_fraction=val_fraction)).to_csv(
        out, sep="\t", index=False
    )
    return out


def _train(array: Path, index: Path, folds: Path, out: Path, settings: dict, fold: int = 0) -> int:
    return cli_main(
        [
            "train",
            "--array",
            str(array),
            "--index",
            str(index),
            "--folds",
            str(folds),
            "--fold",
            str(fold),
            "--out-dir",
            str(out),
            "--device",
            "cpu",
            "--settings",
            json.dumps(settings),
        ]
    )


@pytest.mark.slow
def test_resnet10_lora_learns_a_planted_effect(tmp_path: Path) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=30, side=32, effect=0.6)
    folds = _folds(index, n_folds=3)
    settings = {"backbone": "resnet10", "method": "lora", "lora_rank": 4, "epochs": 4, "lr": 1e-3, "warmup_epochs": 1}
    assert _train(array, index, folds, tmp_path / "out", settings) == 0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.tsv", sep="\t")
    assert list(predictions.columns) == ["participant_id", "session", "fold", "y_true", "prob_0", "prob_1", "y_pred"]
    assert len(predictions) == 10
    assert roc_auc_score(predictions.y_true, predictions.prob_1) > 0.8
    history = pd.read_csv(tmp_path / "out" / "history.tsv", sep="\t")
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "val_metric", "lr", "seconds"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["trainable_params"] < run["total_params"] and run["device"].startswith("cpu")
    # the test subjects are called at the threshold the fold fitted on its validation subjects
    assert 0 < run["threshold"] < 1
    assert (predictions.y_pred == (predictions.prob_1 >= run["threshold"]).astype(int)).all()
    assert {
        "experiment",
        "fold",
        "backbone",
        "method",
        "head",
        "task",
        "wall_seconds",
        "peak_memory_mb",
        "seed",
        "versions",
    } <= set(run)
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=16, side=16)
    folds = _folds(index, n_folds=2)
    settings = {
        "backbone": "resnet10",
        "method": "lora",
        "lora_rank": 2,
        "lora_dropout": 0.2,
        "head_dropout": 0.3,
        "epochs": 4,
        "patience": 10,
        "lr": 1e-3,
        "augment_flip": True,
        "augment_rotate_deg": 10,
        "augment_scale": 0.1,
        "augment_intensity": 0.1,
        "head_hidden": 32,
    }
    assert _train(array, index, folds, tmp_path / "whole", settings) == 0
    assert _train(array, index, folds, tmp_path / "split", {**settings, "max_epochs_this_run": 2}) == 0
    assert (tmp_path / "split" / "checkpoint.pt").exists()
    assert not (tmp_path / "split" / "predictions.tsv").exists()
    assert len(pd.read_csv(tmp_path / "whole" / "history.tsv", sep="\t")) == 4
    assert _train(array, index, folds, tmp_path / "split", settings) == 0
    whole = load_file(tmp_path / "whole" / "adapter" / "adapter_model.safetensors")
    split = load_file(tmp_path / "split" / "adapter" / "adapter_model.safetensors")
    assert whole.keys() == split.keys()
    for key in whole:
        assert np.array_equal(whole[key].numpy(), split[key].numpy()), key
    a = pd.read_csv(tmp_path / "whole" / "predictions.tsv", sep="\t")
    b = pd.read_csv(tmp_path / "split" / "predictions.tsv", sep="\t")
    pd.testing.assert_frame_equal(a, b)
    h = pd.read_csv(tmp_path / "split" / "history.tsv", sep="\t")
    assert h.epoch.tolist() == [1, 2, 3, 4]
    assert np.array_equal(h.train_loss, pd.read_csv(tmp_path / "whole" / "history.tsv", sep="\t").train_loss)


def test_kill_9_during_training_resumes_from_the_last_checkpoint_to_the_same_result(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    array, index = make_synthetic(tmp_path, n_subjects=24, side=24)
    folds = _folds(index, n_folds=2)
    settings = {
        "backbone": "resnet10",
        "method": "lora",
        "lora_rank": 2,
        "epochs": 8,
        "patience": 20,
        "lr": 1e-3,
        "augment_flip": True,
        "head_hidden": 16,
        "checkpoint_seconds": 0,  # a checkpoint after every epoch, so the kill finds one
    }
    assert _train(array, index, folds, tmp_path / "whole", settings) == 0
    killed = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "neuropeft",
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
        str(killed),
        "--device",
        "cpu",
        "--settings",
        json.dumps(settings),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = killed / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert process.poll() is None and time.monotonic() < deadline, (
            "training ended or stalled before its first checkpoint"
        )
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    epoch = torch.load(checkpoint, weights_only=True)["epoch"]  # whole: it is written atomically
    assert 1 <= epoch < 8 and not (killed / "predictions.tsv").exists()
    assert _train(array, index, folds, killed, settings) == 0  # the same command again: resumes
    history = pd.read_csv(killed / "history.tsv", sep="\t")
    assert history.epoch.tolist() == list(range(1, 9))
    assert np.array_equal(history.train_loss, pd.read_csv(tmp_path / "whole" / "history.tsv", sep="\t").train_loss)
    pd.testing.assert_frame_equal(
        pd.read_csv(killed / "predictions.tsv", sep="\t"), pd.read_csv(tmp_path / "whole" / "predictions.tsv", sep="\t")
    )


def test_resume_with_changed_settings_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=16, side=16)
    folds = _folds(index, n_folds=2)
    settings = {"backbone": "vit-tiny", "method": "linear_probe", "epochs": 3, "max_epochs_this_run": 1}
    assert _train(array, index, folds, tmp_path / "out", settings) == 0
    assert _train(array, index, folds, tmp_path / "out", {**settings, "lr": 0.5}) == 1
    assert "delete it to restart" in capsys.readouterr().err


def test_regression_predicts_in_target_units(tmp_path: Path) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=20, side=16)
    table = pd.read_csv(index, sep="\t")
    table["target"] = 40 + 2.5 * np.arange(20) + 0.25
    table.to_csv(index, sep="\t", index=False)
    folds = _folds(index, n_folds=4)
    settings = {"backbone": "vit-tiny", "method": "full", "head": "linear", "epochs": 2, "lr": 1e-3}
    assert _train(array, index, folds, tmp_path / "out", settings, fold=1) == 0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.tsv", sep="\t")
    columns = ["participant_id", "session", "fold", "y_true", "y_pred", "gap", "gap_corrected"]
    assert list(predictions.columns) == columns
    assert (predictions.fold == 1).all()
    assert 20 < predictions.y_pred.mean() < 100  # standardisation inverted
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    # the gap, and the gap less the age bias the fold fitted on its validation subjects
    bias = run["age_bias"]
    np.testing.assert_allclose(predictions.gap, predictions.y_pred - predictions.y_true, rtol=1e-5)
    expected = predictions.gap - (bias["slope"] * predictions.y_true + bias["intercept"])
    np.testing.assert_allclose(predictions.gap_corrected, expected, rtol=1e-5, atol=1e-4)
    assert run["task"] == "regression" and run["trainable_params"] == run["total_params"]
    assert (tmp_path / "out" / "weights.safetensors").exists()


def test_survival_learns_a_known_risk_ordering(tmp_path: Path) -> None:
    """The central cube's brightness sets the log hazard; earlier events must get higher predicted risk."""
    n, side = 40, 16
    array, index = make_synthetic(tmp_path, n_subjects=n, side=side, effect=0.0)
    volumes = np.load(array)
    log_hazard = np.linspace(-1.5, 1.5, n)[np.random.default_rng(3).permutation(n)]
    cube = slice(side // 4, 3 * side // 4)
    volumes[:, :, cube, cube, cube] += log_hazard[:, None, None, None, None]
    np.save(array, volumes)
    table = pd.read_csv(index, sep="\t")
    times = np.exp(-log_hazard) * 10  # the riskier, the sooner
    events = (times < 20).astype(int)  # the longest survivors censored
    table["target"] = [f"{t:.3f}:{e}" for t, e in zip(times, events, strict=True)]
    table.to_csv(index, sep="\t", index=False)
    folds = tmp_path / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=4, val_fraction=0.25, task="survival")).to_csv(
        folds, sep="\t", index=False
    )
    settings = {"backbone": "vit-tiny", "method": "full", "head": "linear", "task": "survival", "epochs": 8}
    assert _train(array, index, folds, tmp_path / "out", {**settings, "batch_size": 8, "lr": 1e-3}) == 0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.tsv", sep="\t")
    assert list(predictions.columns) == ["participant_id", "session", "fold", "time", "event", "risk"]
    truth = dict(zip(table.participant_id, times, strict=True))
    np.testing.assert_allclose(predictions.time, predictions.participant_id.map(truth), rtol=1e-3)
    c_index = concordance(predictions.time.to_numpy(), predictions.event.to_numpy(), predictions.risk.to_numpy())
    assert c_index > 0.8
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["task"] == "survival" and run["threshold"] is None


@pytest.mark.parametrize("cache_features", [False, True])
def test_covariates_reach_the_head(tmp_path: Path, cache_features: bool) -> None:
    """Images without signal, a covariate that tells the class: the head must learn from the covariate."""
    array, index = make_synthetic(tmp_path, n_subjects=24, side=16, effect=0.0)
    table = pd.read_csv(index, sep="\t")
    rng = np.random.default_rng(0)
    participants = pd.DataFrame(
        {
            "participant_id": table.participant_id,
            "score": (table.target * 2.0 + rng.normal(0, 0.3, len(table))).round(3),
            "group": np.where(rng.random(len(table)) < 0.5, "A", "B"),  # noise, one-hot encoded
        }
    )
    participants.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    folds = _folds(index, n_folds=3)
    settings = {
        "backbone": "vit-tiny",
        "method": "linear_probe",
        "head": "linear",
        "covariates": ["score", "group"],
        "cache_features": cache_features,
        "augment_flip": True,
        "epochs": 30,
        "patience": 30,
        "lr": 3e-2,
    }
    status = cli_main(
        [
            "train",
            *("--array", str(array), "--index", str(index), "--folds", str(folds), "--fold", "0"),
            *("--out-dir", str(tmp_path / "out"), "--device", "cpu", "--settings", json.dumps(settings)),
            *("--covariates-table", str(tmp_path / "participants.tsv")),
        ]
    )
    assert status == 0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.tsv", sep="\t")
    assert roc_auc_score(predictions.y_true, predictions.prob_1) > 0.9
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["features_cached"] == cache_features
    assert [(c["name"], c["kind"]) for c in run["covariates"]] == [("score", "numeric"), ("group", "categorical")]
    assert run["covariates"][1]["levels"] == ["A", "B"]


def test_an_experiment_with_covariates_needs_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    array, index = make_synthetic(tmp_path, n_subjects=12, side=16)
    folds = _folds(index, n_folds=3)
    settings = {"backbone": "vit-tiny", "method": "full", "covariates": ["age"], "epochs": 1}
    assert _train(array, index, folds, tmp_path / "out", settings) != 0
    assert "pass --covariates-table (participants.tsv)" in capsys.readouterr().err
