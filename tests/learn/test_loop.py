"""The shared training loop: exact resume, refused settings, early stopping, a caller's own epochs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from neuropeft.errors import NeuropeftError
from neuropeft.learn.loop import (
    CHECKPOINT,
    Checkpoint,
    EarlyStopping,
    Epochs,
    Validation,
    adamw_cosine,
    run_epochs,
)


@dataclass
class Settings:
    epochs: int = 4
    lr: float = 0.05
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    max_epochs_this_run: int = 0
    num_workers: int = 0
    seed: int = 0
    checkpoint_seconds: float = 0.0


def _fit(out: Path, settings: Settings, validate=None, early_stopping=None):
    """A linear regression with dropout (so the RNG matters) on fixed data, through run_epochs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.2), nn.Linear(3, 1))
    x, y = torch.randn(12, 3, generator=torch.Generator().manual_seed(1)), torch.randn(12, 1)
    optimizer, scheduler = adamw_cosine(model, settings, steps_per_epoch=3)

    def batches(epoch: int):
        order = torch.randperm(12, generator=torch.Generator().manual_seed(epoch))
        return [(x[order[k : k + 4]], y[order[k : k + 4]]) for k in range(0, 12, 4)]

    def batch_loss(batch):
        return nn.functional.mse_loss(model(batch[0]), batch[1]), len(batch[0])

    epochs = Epochs(batches, batch_loss, validate and (lambda: validate(model)), label="toy")
    checkpoint = Checkpoint(out / CHECKPOINT, settings, identity={"client": "a"})
    out.mkdir(exist_ok=True)
    return model, run_epochs(
        model, optimizer, scheduler, epochs, settings, checkpoint, torch.device("cpu"), early_stopping=early_stopping
    )


def test_a_paused_run_resumes_to_the_same_weights_and_history(tmp_path: Path) -> None:
    whole, result = _fit(tmp_path / "whole", Settings())
    assert result is not None and result.epochs_run == 4
    assert (tmp_path / "whole" / CHECKPOINT).exists()  # the caller removes it once its outputs are written
    assert _fit(tmp_path / "split", Settings(max_epochs_this_run=3))[1] is None
    assert (tmp_path / "split" / CHECKPOINT).exists()
    split, resumed = _fit(tmp_path / "split", Settings(max_epochs_this_run=3))
    assert resumed is not None and resumed.epochs_run == 4
    for a, b in zip(whole.parameters(), split.parameters(), strict=False):
        assert torch.equal(a, b)
    drop = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
    assert drop == [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history]
    assert list(result.history[0]) == ["epoch", "train_loss", "lr", "seconds"]


def test_a_checkpoint_interval_saves_less_and_a_resume_replays_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[int] = []
    save = Checkpoint.save
    monkeypatch.setattr(Checkpoint, "save", lambda self, payload: (saved.append(payload["epoch"]), save(self, payload)))
    whole, result = _fit(tmp_path / "whole", Settings())
    assert saved == [1, 2, 3, 4]  # checkpoint_seconds 0: after every epoch
    saved.clear()
    _, often = _fit(tmp_path / "often", Settings(checkpoint_seconds=1e-9))
    assert saved == [1, 2, 3] and often is not None  # not after the last epoch: the caller writes its outputs next
    saved.clear()
    sparse, rare = _fit(tmp_path / "rare", Settings(checkpoint_seconds=3600))
    assert saved == [] and rare is not None and not (tmp_path / "rare" / CHECKPOINT).exists()
    assert _fit(tmp_path / "split", Settings(checkpoint_seconds=3600, max_epochs_this_run=3))[1] is None
    assert saved == [3]  # a pause always saves
    split, resumed = _fit(tmp_path / "split", Settings(checkpoint_seconds=60, max_epochs_this_run=3))
    assert resumed is not None and resumed.epochs_run == 4 and saved == [3]
    for model in (sparse, split):
        for a, b in zip(whole.parameters(), model.parameters(), strict=True):
            assert torch.equal(a, b)
    drop = [{k: v for k, v in row.items() if k != "seconds"} for row in result.history]
    assert drop == [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history]


def test_a_resume_with_other_settings_or_identity_is_refused(tmp_path: Path) -> None:
    _fit(tmp_path, Settings(max_epochs_this_run=1))
    with pytest.raises(NeuropeftError, match=r"other settings \(\['lr'\]\)"):
        _fit(tmp_path, Settings(lr=0.1, max_epochs_this_run=1))
    with pytest.raises(NeuropeftError, match=r"\['client'\]"):
        Checkpoint(tmp_path / CHECKPOINT, Settings(), identity={"client": "b"}).load(torch.device("cpu"))
    assert Checkpoint(tmp_path / CHECKPOINT, Settings(num_workers=2, max_epochs_this_run=5)).load(torch.device("cpu"))


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.2])
    model, result = _fit(
        tmp_path,
        Settings(epochs=5),
        validate=lambda m: Validation(next(losses), math.nan),
        early_stopping=EarlyStopping(patience=2),
    )
    assert result.best_epoch == 2 and result.epochs_run == 4 and result.stopped_early
    assert [row["val_loss"] for row in result.history] == [1.0, 0.5, 0.7, 0.9]


def test_improvement_follows_the_metric_then_the_loss() -> None:
    best = {"epoch": 1, "metric": 0.8, "loss": 0.5}
    assert EarlyStopping(3).improved(Validation(0.9, 0.85), best)
    assert EarlyStopping(3).improved(Validation(0.4, 0.8), best) and not EarlyStopping(3).improved(
        Validation(0.6, 0.8), best
    )
    assert EarlyStopping(3, higher_is_better=False).improved(Validation(0.9, 0.7), best)
    assert EarlyStopping(3, monitor="loss").improved(Validation(0.4, 0.1), best)
