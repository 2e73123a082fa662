"""Every method trains a tiny UNETR or Swin UNETR on synthetic balls to a validation Dice far above chance.

Chance is about the foreground fraction (each ball fills ~1.6 % of the volume). LoRA, DoRA and the
decoder method keep most of a network, so they start from a pre-trained one: ``scratch`` trains a
tiny UNETR to find a bright (class 1) and a dark ball (class 2), and the others fine-tune it to the
swapped task (bright = 2, dark = 1), where it starts at a Dice near 0. Swin UNETR trains LoRA (with
its decoder, having no pre-trained one) from random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.segment.metrics import dice_per_class
from neuropeft.segment.train import (
    FoldResult,
    SegmentationSettings,
    make_segmentation_model,
    predict_labels,
    train_fold,
)
from tests.segment.synthetic import make_balls

N, TRAIN, VAL = 8, np.arange(6), np.arange(6, 8)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _settings(**changes: object) -> SegmentationSettings:
    defaults = {"backbone": "unetr-tiny", "warmup_epochs": 1, "patience": 100, "lr": 3e-3}
    return SegmentationSettings(**{**defaults, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FoldResult]:
    """A tiny UNETR trained from scratch on bright (1) and dark (2) balls, saved as a checkpoint."""
    tmp = tmp_path_factory.mktemp("pretrained")
    images, labels = make_balls(N, seed=0, dark=True)
    result = train_fold(images, labels, TRAIN, VAL, 3, _settings(method="scratch", epochs=10), tmp / "ck.pt", CPU)
    assert result is not None
    torch.save(result.model.net.state_dict(), tmp / "unetr.pt")
    return tmp / "unetr.pt", result


def test_scratch_trains_a_tiny_unetr(pretrained: tuple[Path, FoldResult]) -> None:
    result = pretrained[1]
    assert (result.val_dice > 0.5).all(), result.val_dice
    assert [row["epoch"] for row in result.history] == list(range(1, 11))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


@pytest.mark.parametrize(
    ("method", "lr", "epochs"), [("lora", 5e-2, 8), ("dora", 5e-2, 8), ("decoder", 3e-3, 5), ("full", 3e-3, 5)]
)
def test_method_fine_tunes_the_pretrained_unetr_to_a_new_task(
    pretrained: tuple[Path, FoldResult], tmp_path: Path, method: str, lr: float, epochs: int
) -> None:
    images, labels = make_balls(N, seed=1, dark=True)
    swapped = np.choose(labels, [0, 2, 1]).astype(np.int32)
    settings = _settings(method=method, lr=lr, epochs=epochs, init=str(pretrained[0]))
    before = predict_labels(make_segmentation_model(settings, 1, 3, images.shape[2:]), images[VAL])
    assert (dice_per_class(before, swapped[VAL], 3) < 0.1).all()

    result = train_fold(images, swapped, TRAIN, VAL, 3, settings, tmp_path / "ck.pt", CPU)
    assert result is not None
    assert (result.val_dice > 0.5).all(), result.val_dice
    predicted = predict_labels(result.model, images[VAL])
    assert predicted.shape == swapped[VAL].shape and predicted.dtype == np.int32
    assert set(np.unique(predicted)) <= {0, 1, 2}


def test_lora_trains_a_tiny_swin_unetr(tmp_path: Path) -> None:
    images, labels = make_balls(6, seed=2)
    settings = _settings(backbone="swin-unetr-tiny", method="lora", lora_train_decoder=True, epochs=5, lr=5e-3)
    result = train_fold(images, labels, np.arange(4), np.arange(4, 6), 2, settings, tmp_path / "ck.pt", CPU)
    assert result is not None
    assert result.val_dice[0] > 0.5, result.val_dice


def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    images, labels = make_balls(4, seed=3)
    settings = _settings(method="lora", epochs=2, lr=1e-2, seed=5)  # LoRA dropout 0.1 draws random numbers
    runs = [train_fold(images, labels, [0, 1, 2], [3], 2, settings, tmp_path / f"{i}.pt", CPU) for i in range(2)]
    assert [row["train_loss"] for row in runs[0].history] == [row["train_loss"] for row in runs[1].history]
    first, second = (dict(run.model.named_parameters()) for run in runs)
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_label_values_must_be_class_numbers(tmp_path: Path) -> None:
    images, labels = make_balls(3, side=16)
    with pytest.raises(NeuropeftError, match=r"outside 0\.\.1; group the labels"):
        train_fold(images, labels * 4, [0, 1], [2], 2, _settings(), tmp_path / "ck.pt", CPU)
