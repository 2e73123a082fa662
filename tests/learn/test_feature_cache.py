"""cache_features: a frozen backbone's features computed once train the head as through the backbone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuropeft.cli import main as cli_main
from neuropeft.learn.data import Augment, VolumeDataset
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import make_model
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.learn.train import fold_inputs, load_fold_data
from tests.learn.learn_synthetic import make_synthetic


def _data(root: Path) -> tuple[Path, Path, Path]:
    array, index = make_synthetic(root, n_subjects=16, side=16, channels=2)
    folds = root / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=2, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    return array, index, folds


def _train(data: tuple[Path, Path, Path], out: Path, settings: dict) -> dict:
    array, index, folds = data
    argv = ["train", "--array", str(array), "--index", str(index), "--folds", str(folds), "--fold", "0"]
    assert cli_main([*argv, "--out-dir", str(out), "--device", "cpu", "--settings", json.dumps(settings)]) == 0
    return json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}


#: a linear probe with the demo's head, the flip, head dropout (the RNG matters) and a batch that leaves a remainder
PROBE = {
    "method": "linear_probe",
    "head_norm": True,
    "head_dropout": 0.3,
    "head_hidden": 32,
    "epochs": 4,
    "patience": 10,
    "lr": 1e-3,
    "batch_size": 3,
    "augment_flip": True,
}


@pytest.mark.parametrize(("backbone", "head"), [("resnet10", "mlp"), ("vit-tiny", "conv")])
def test_cached_features_train_the_head_as_through_the_frozen_backbone(
    tmp_path: Path, backbone: str, head: str
) -> None:
    data = _data(tmp_path)
    settings = {**PROBE, "backbone": backbone, "head": head}
    assert not _train(data, tmp_path / "through", settings)["features_cached"]
    assert _train(data, tmp_path / "cached", {**settings, "cache_features": True})["features_cached"]
    through, cached = (pd.read_csv(tmp_path / d / "predictions.tsv", sep="\t") for d in ("through", "cached"))
    assert np.allclose(through.prob_1, cached.prob_1, rtol=0, atol=1e-5)
    a, b = (pd.read_csv(tmp_path / d / "history.tsv", sep="\t") for d in ("through", "cached"))
    for column in ("train_loss", "val_loss", "lr"):
        assert np.allclose(a[column], b[column], rtol=0, atol=1e-5), column


def test_a_cached_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    data = _data(tmp_path)
    settings = {**PROBE, "backbone": "resnet10", "cache_features": True}
    _train(data, tmp_path / "whole", {**settings, "checkpoint_seconds": 3600})  # a run that writes no checkpoint
    assert not (tmp_path / "whole" / "checkpoint.pt").exists()
    assert _train(data, tmp_path / "split", {**settings, "max_epochs_this_run": 2, "checkpoint_seconds": 600}) == {}
    _train(data, tmp_path / "split", settings)
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "whole" / "predictions.tsv", sep="\t"),
        pd.read_csv(tmp_path / "split" / "predictions.tsv", sep="\t"),
    )


def test_a_feature_item_is_that_of_the_volume_the_augmentation_gives(tmp_path: Path) -> None:
    array, _ = make_synthetic(tmp_path, n_subjects=6, side=8)
    volumes = VolumeDataset(array, range(6), torch.arange(6), Augment(flip=True), seed=3)
    seen = set()
    for epoch in range(4):
        volumes.epoch = epoch
        for i in range(6):
            flipped = torch.flip(volumes.volume(i), dims=(1,))
            assert torch.equal(volumes[i][0], flipped if volumes.flips(i) else volumes.volume(i))
            seen.add(volumes.flips(i))
    assert seen == {True, False}
    assert not VolumeDataset(array, range(6), torch.arange(6)).flips(0)


@pytest.mark.parametrize(
    ("changes", "cached"),
    [
        ({}, True),
        ({"method": "lora"}, False),  # the backbone trains
        ({"method": "layernorm"}, False),
        ({"augment_intensity": 0.1}, False),  # a new volume every epoch
        ({"cache_features": False}, False),
    ],
)
def test_features_are_cached_only_for_a_frozen_backbone_and_flips(tmp_path: Path, changes: dict, cached: bool) -> None:
    array, index, folds = _data(tmp_path)
    settings = ExperimentSettings(**{**PROBE, "backbone": "vit-tiny", "cache_features": True, **changes})
    data = load_fold_data(array, index, folds, 0, settings)
    model = make_model(settings, data.in_channels, data.shape, data.task.out_features, "random")
    inputs = fold_inputs(model, data, settings, torch.device("cpu"), channels_last=False)
    assert inputs.cached == cached
    assert (inputs.network is model.head) == cached
