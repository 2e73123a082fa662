"""``neuropeft pretrain``: the loss falls, outputs, exact resume, strict loading by the learning stage, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from neuropeft.cli import main as cli_main
from neuropeft.learn.backbones import build_backbone
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from tests.learn.test_pretrain_models import blobs

MAE = {
    "backbone": "vit-tiny",
    "strategy": "mae",
    "decoder_dim": 48,
    "decoder_heads": 4,
    "batch_size": 4,
    "lr": 1e-3,
    "warmup_epochs": 1,
    "norm_pix_loss": False,
}


def _cohort(root: Path, n: int = 12, side: int = 32, channels: int = 1) -> tuple[Path, Path]:
    """Blob volumes as model_input.npy + .tsv (targets alternate, unused by pre-training)."""
    array, index = root / "model_input.npy", root / "model_input.tsv"
    np.save(array, blobs(n, side, channels))
    pd.DataFrame(
        {
            "row": range(n),
            "participant_id": [f"sub-{k + 1:03d}" for k in range(n)],
            "session": "n/a",
            "target": [k % 2 for k in range(n)],
            "site": "a",
        }
    ).to_csv(index, sep="\t", index=False)
    return array, index


def _pretrain(array: Path, index: Path, out: Path, settings: dict) -> int:
    return cli_main(
        [
            "pretrain",
            "--array",
            str(array),
            "--index",
            str(index),
            "--out-dir",
            str(out),
            "--device",
            "cpu",
            "--settings",
            json.dumps(settings),
        ]
    )


def test_mae_loss_falls_and_outputs_are_written(tmp_path: Path) -> None:
    array, index = _cohort(tmp_path)
    assert _pretrain(array, index, tmp_path / "out", {**MAE, "epochs": 6}) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    curve = run["loss_curve"]
    assert len(curve) == 6 and curve[-1] < 0.6 * curve[0]
    assert {
        "strategy",
        "backbone",
        "epochs",
        "wall_seconds",
        "peak_memory_mb",
        "device",
        "versions",
        "seed",
        "settings",
        "backbone_sha256",
        "n_volumes",
    } <= set(run)
    assert run["strategy"] == "mae" and run["n_volumes"] == 12 and run["device"].startswith("cpu")
    history = pd.read_csv(tmp_path / "out" / "history.tsv", sep="\t")
    assert list(history.columns) == ["epoch", "train_loss", "lr", "seconds"]
    np.testing.assert_allclose(history.train_loss, curve)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["backbone.safetensors", "history.tsv", "run.json"]


def test_interrupted_pretraining_resumes_to_the_same_backbone(tmp_path: Path) -> None:
    array, index = _cohort(tmp_path, n=9, side=16)
    settings = {**MAE, "epochs": 3, "augment_rotate_deg": 5}
    assert _pretrain(array, index, tmp_path / "whole", settings) == 0
    assert _pretrain(array, index, tmp_path / "split", {**settings, "max_epochs_this_run": 2}) == 0
    assert (tmp_path / "split" / "checkpoint.pt").exists() and not (
        tmp_path / "split" / "backbone.safetensors"
    ).exists()
    assert _pretrain(array, index, tmp_path / "split", {**settings, "lr": 0.5}) == 1  # changed settings refused
    assert _pretrain(array, index, tmp_path / "split", settings) == 0
    whole, split = (load_file(tmp_path / d / "backbone.safetensors") for d in ("whole", "split"))
    assert whole.keys() == split.keys()
    for key in whole:
        assert torch.equal(whole[key], split[key]), key
    assert pd.read_csv(tmp_path / "split" / "history.tsv", sep="\t").epoch.tolist() == [1, 2, 3]


def test_pretrained_backbone_loads_strictly_into_the_learning_stage(tmp_path: Path) -> None:
    """Fine-tuning on another channel count (cross-modal) with init = the pre-trained checkpoint."""
    (tmp_path / "t1w").mkdir()
    array, index = _cohort(tmp_path / "t1w")
    assert _pretrain(array, index, tmp_path / "pre", {**MAE, "epochs": 1}) == 0
    checkpoint = tmp_path / "pre" / "backbone.safetensors"
    saved = load_file(checkpoint)
    torch.manual_seed(123)
    backbone = build_backbone("vit-tiny", 1, (32, 32, 32))
    assert set(saved) == set(backbone.net.state_dict())  # bare keys, nothing of the decoder
    backbone.load_pretrained(checkpoint)
    for key, value in backbone.net.state_dict().items():
        assert torch.equal(value, saved[key]), key

    (tmp_path / "fa_md").mkdir()
    array2, index2 = _cohort(tmp_path / "fa_md", n=12, channels=2)
    folds = tmp_path / "folds.tsv"
    make_folds(read_index(index2), FoldSettings(n_folds=2, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    settings = {
        "backbone": "vit-tiny",
        "method": "linear_probe",
        "head": "linear",
        "epochs": 1,
        "init": str(checkpoint),
    }
    assert (
        cli_main(
            [
                "train",
                "--array",
                str(array2),
                "--index",
                str(index2),
                "--folds",
                str(folds),
                "--fold",
                "0",
                "--out-dir",
                str(tmp_path / "fold"),
                "--device",
                "cpu",
                "--settings",
                json.dumps(settings),
            ]
        )
        == 0
    )
    run = json.loads((tmp_path / "fold" / "run.json").read_text())
    assert run["init"] == str(checkpoint) and run["input_shape"] == [2, 32, 32, 32]


def test_reconstruction_writes_a_resnet_checkpoint(tmp_path: Path) -> None:
    array, index = _cohort(tmp_path, n=5, side=16)
    settings = {
        "backbone": "resnet10",
        "strategy": "reconstruction",
        "epochs": 1,
        "batch_size": 2,
        "decoder_dim": 16,
        "input_mask_ratio": 0.5,
        "input_mask_patch": 4,
    }
    assert _pretrain(array, index, tmp_path / "out", settings) == 0
    torch.manual_seed(0)
    backbone = build_backbone("resnet10", 1, (16, 16, 16))
    before = backbone.net.conv1.weight.clone()
    backbone.load_pretrained(tmp_path / "out" / "backbone.safetensors")
    assert not torch.equal(before, backbone.net.conv1.weight)
    assert set(load_file(tmp_path / "out" / "backbone.safetensors")) == set(backbone.net.state_dict())


@pytest.mark.parametrize(
    ("strategy", "backbone", "message"),
    [
        ("mae", "resnet10", "pretrain strategy 'mae' needs a ViT backbone (vit-b, vit-s, vit-tiny), not 'resnet10'"),
        (
            "contrastive",
            "vit-s",
            "pretrain strategy 'contrastive' needs a convolutional-map backbone (fmcib-resnet50, resnet10, resnet18, sam-med3d, sam-med3d-tiny), not 'vit-s'",
        ),
        ("reconstruction", "vit-tiny", "needs a convolutional-map backbone"),
        ("simclr", "resnet10", "unknown pretrain strategy 'simclr'"),
    ],
)
def test_mismatched_strategy_and_backbone_refused_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strategy: str, backbone: str, message: str
) -> None:
    array, index = _cohort(tmp_path, n=3, side=16)
    assert _pretrain(array, index, tmp_path / "out", {"strategy": strategy, "backbone": backbone}) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists()
