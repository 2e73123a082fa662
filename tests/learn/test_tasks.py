"""Tasks (target encoding, loss, metric) and the memory-mapped dataset with augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.data import Augment, VolumeDataset, augment_volume
from neuropeft.learn.tasks import Task, infer_task


def test_auto_task() -> None:
    assert infer_task(["0", "1", "1.0"]) == "classification"
    assert infer_task(["CN", "AD"]) == "classification"
    assert infer_task(["71.5", "64.2", "80"]) == "regression"


def test_classification_with_balanced_weights() -> None:
    task = Task.fit("auto", ["0", "0", "0", "1"], class_weights="balanced")
    assert task.classes == ["0", "1"] and task.out_features == 2
    assert task.class_weights == pytest.approx([4 / 6, 4 / 2])
    encoded = task.encode(["1.0", "0"])
    assert encoded.tolist() == [1, 0]
    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(logits, encoded, weight=torch.tensor([2 / 3, 2.0]))
    assert torch.isclose(task.loss(logits, encoded), expected)
    assert task.metric(task.decode(logits), encoded) == 1.0
    with pytest.raises(NeuropeftError, match="absent from the training part"):
        task.encode(["2"])


def test_multiclass_metric_is_macro_auc() -> None:
    task = Task.fit("classification", ["a", "b", "c"])
    logits = torch.eye(3) * 5
    assert task.metric(task.decode(logits), task.encode(["a", "b", "c"])) == 1.0


def test_regression_standardises_on_training_part_and_inverts() -> None:
    task = Task.fit("auto", ["50", "60", "70", "80.5"])
    encoded = task.encode(["60", "80.5"])
    assert task.mean == pytest.approx(65.125)
    decoded = task.decode(encoded[:, None])
    assert decoded == pytest.approx([60, 80.5])
    assert task.metric(decoded + 2, encoded) == pytest.approx(2.0)
    assert not task.higher_is_better


def test_dataset_reads_rows_from_the_memory_map(tmp_path) -> None:
    array = np.arange(4 * 2 * 8 * 8 * 8, dtype=np.float32).reshape(4, 2, 8, 8, 8)
    np.save(tmp_path / "a.npy", array)
    dataset = VolumeDataset(tmp_path / "a.npy", [3, 1], torch.tensor([1, 0]))
    x, y, i = dataset[0]
    assert isinstance(dataset.array, np.memmap)
    assert torch.equal(x, torch.from_numpy(array[3])) and y == 1 and i == 0


def test_dataset_takes_its_channels_and_blanks_an_absent_modality(tmp_path) -> None:
    array = np.arange(2 * 3 * 4 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4, 4) + 1
    np.save(tmp_path / "a.npy", array)
    picked = VolumeDataset(tmp_path / "a.npy", [1], torch.tensor([0]), channels=[1, 2])
    assert torch.equal(picked.volume(0), torch.from_numpy(array[1, 1:]))
    blanked = VolumeDataset(tmp_path / "a.npy", [1], torch.tensor([0]), channels=[0, 1, 2], blank=[1, 2])
    volume = blanked.volume(0)
    assert torch.equal(volume[0], torch.from_numpy(array[1, 0])) and not volume[1:].any()
    assert np.load(tmp_path / "a.npy")[1, 1:].all()  # the stack itself is untouched


def test_augmentation_is_seeded_and_bounded() -> None:
    x = torch.rand(1, 16, 16, 16)
    aug = Augment(flip=True, rotate_deg=10, scale=0.1, intensity=0.2)
    a = augment_volume(x, aug, torch.Generator().manual_seed(5))
    assert torch.equal(a, augment_volume(x, aug, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, augment_volume(x, aug, torch.Generator().manual_seed(6)))
    assert a.shape == x.shape and a.max() <= 1.2 + 1e-6
    flipped = augment_volume(x, Augment(flip=True), torch.Generator().manual_seed(0))
    assert torch.equal(flipped, x) or torch.equal(flipped, x.flip(1))
    identity = augment_volume(x, Augment(rotate_deg=0.0, scale=1e-9), torch.Generator().manual_seed(0))
    torch.testing.assert_close(identity, x, atol=1e-5, rtol=0)


def test_survival_task_encodes_outcomes_and_scores_the_c_index() -> None:
    task = Task.fit("survival", ["2:1", "5:0", "3:1", "9:1"])
    assert task.kind == "survival" and task.out_features == 1 and task.higher_is_better
    encoded = task.encode(["2:1", "5:0", "3:1", "9:1"])
    assert encoded.tolist() == [[2.0, 1.0], [5.0, 0.0], [3.0, 1.0], [9.0, 1.0]]
    right = torch.tensor([[3.0], [1.0], [2.0], [0.0]])  # earlier events, higher risk
    np.testing.assert_allclose(task.decode(right), [3.0, 1.0, 2.0, 0.0])
    assert task.metric(task.decode(right), encoded) == 1.0
    assert task.loss(right, encoded) < task.loss(-right, encoded)


def test_survival_needs_events_in_the_training_part() -> None:
    with pytest.raises(NeuropeftError, match="no event"):
        Task.fit("survival", ["2:0", "5:0"])
