"""Dice and HD95 on hand-made masks with known answers; absent classes give NaN, not a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.segment.metrics import dice_per_class, hd95_per_class, score_table

SIDE = 20


def _cubes(offset: int, value: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A 6³ reference cube and the same cube shifted by ``offset`` voxels along the first axis, (1, X, Y, Z)."""
    ref = np.zeros((1, SIDE, SIDE, SIDE), np.int32)
    pred = np.zeros_like(ref)
    ref[0, 5:11, 5:11, 5:11] = value
    pred[0, 5 + offset : 11 + offset, 5:11, 5:11] = value
    return pred, ref


def test_dice_of_cubes_offset_by_two_voxels() -> None:
    pred, ref = _cubes(2)
    assert dice_per_class(pred, ref, 2) == pytest.approx(np.array([[2 * 4 / 12]]))  # overlap 4 of 6 slices
    assert dice_per_class(ref, ref, 2) == pytest.approx(np.array([[1.0]]))


def test_hd95_of_cubes_offset_by_two_voxels_in_mm() -> None:
    pred, ref = _cubes(2)
    assert hd95_per_class(pred, ref, 2) == pytest.approx(np.array([[2.0]]))
    assert hd95_per_class(pred, ref, 2, spacing=(2.5, 1, 1)) == pytest.approx(
        np.array([[5.0]])
    )  # the offset axis is 2.5 mm
    assert hd95_per_class(pred, ref, 2, spacing=(1, 3, 3)) == pytest.approx(
        np.array([[2.0]])
    )  # the others do not matter
    assert hd95_per_class(ref, ref, 2) == pytest.approx(np.array([[0.0]]))


def test_a_class_absent_from_both_is_nan_and_one_sided_absence_scores_worst() -> None:
    pred, ref = _cubes(0, value=2)  # class 1 in neither, class 2 in both, class 3 only in the prediction
    pred[0, 15:18, 15:18, 15:18] = 3
    dice, hd95 = dice_per_class(pred, ref, 4), hd95_per_class(pred, ref, 4, spacing=(2, 2, 2))
    assert math.isnan(dice[0, 0]) and math.isnan(hd95[0, 0])
    assert dice[0, 1] == pytest.approx(1.0) and hd95[0, 1] == pytest.approx(0.0)
    assert dice[0, 2] == 0.0 and hd95[0, 2] == pytest.approx(2 * SIDE * math.sqrt(3))


def test_score_table_has_a_row_per_subject_and_class() -> None:
    (pred_a, ref_a), (pred_b, ref_b) = _cubes(2), _cubes(0)
    table = score_table(
        np.concatenate([pred_a, pred_b]),
        np.concatenate([ref_a, ref_b]),
        ["ball", "none"],
        (1, 1, 1),
        ["sub-a", "sub-b"],
    )
    assert table.columns.tolist() == ["subject", "class", "dice", "hd95"]
    assert table[["subject", "class"]].values.tolist() == [
        ["sub-a", "ball"],
        ["sub-a", "none"],
        ["sub-b", "ball"],
        ["sub-b", "none"],
    ]
    assert table["dice"].tolist()[::2] == pytest.approx([2 / 3, 1.0])
    assert table["hd95"].tolist()[::2] == pytest.approx([2.0, 0.0])
    assert table["dice"][1::2].isna().all()


def test_shapes_must_match() -> None:
    pred, ref = _cubes(0)
    with pytest.raises(NeuropeftError, match="must both be"):
        dice_per_class(pred, ref[0], 2)
