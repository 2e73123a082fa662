"""Dice and 95 % Hausdorff distance per subject and class, with MONAI's metrics on one-hot label maps.

Classes 1..K-1 are scored (0 is the background). A class absent from both the prediction and the
reference scores NaN in both metrics (nothing to find, nothing found: no evidence either way). A class
present in only one of them scores Dice 0 and, as in the BraTS challenges, an HD95 of the grid's
diagonal in mm (the largest distance the grid holds), where MONAI returns NaN or inf; so a mean over
subjects is neither silently flattered nor made infinite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance
from monai.networks.utils import one_hot

from neuropeft.errors import NeuropeftError


def _one_hot(labels: np.ndarray | torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, X, Y, Z) integer labels as (N, K, X, Y, Z) float one-hot."""
    tensor = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return one_hot(tensor.unsqueeze(1), num_classes, dim=1)


def _presence(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, K-1) whether each foreground class occurs in each subject."""
    flat = np.asarray(labels).reshape(len(labels), -1)
    return np.stack([(flat == k).any(axis=1) for k in range(1, num_classes)], axis=1)


def _check(pred: np.ndarray, ref: np.ndarray, num_classes: int) -> None:
    """Refuse label maps of different or non-(N, X, Y, Z) shapes and fewer than two classes."""
    if np.shape(pred) != np.shape(ref) or np.ndim(pred) != 4:
        raise NeuropeftError(f"predictions {np.shape(pred)} and references {np.shape(ref)} must both be (N, X, Y, Z)")
    if num_classes < 2:
        raise NeuropeftError(f"segmentation needs at least 2 classes (background and one more), got {num_classes}")


def dice_per_class(pred: np.ndarray, ref: np.ndarray, num_classes: int) -> np.ndarray:
    """Dice (N, K-1) of label maps ``pred`` and ``ref`` (N, X, Y, Z) for classes 1..K-1."""
    _check(pred, ref, num_classes)
    dice = compute_dice(
        _one_hot(pred, num_classes), _one_hot(ref, num_classes), include_background=False, ignore_empty=False
    )
    out = dice.numpy().astype(np.float64)
    out[~(_presence(pred, num_classes) | _presence(ref, num_classes))] = np.nan
    return out


def hd95_per_class(
    pred: np.ndarray, ref: np.ndarray, num_classes: int, spacing: Sequence[float] = (1.0, 1.0, 1.0)
) -> np.ndarray:
    """95 % Hausdorff distance in mm (N, K-1) for classes 1..K-1, on voxels of ``spacing`` mm."""
    _check(pred, ref, num_classes)
    spacing = tuple(float(s) for s in spacing)  # MONAI refuses a mix of ints and floats
    with warnings.catch_warnings():  # empty classes (handled below) and a deprecation inside MONAI
        warnings.filterwarnings("ignore", message=".*(is all 0|always_return_as_numpy).*")
        distance = compute_hausdorff_distance(
            _one_hot(pred, num_classes),
            _one_hot(ref, num_classes),
            include_background=False,
            percentile=95,
            spacing=spacing,
        )
    out = distance.numpy().astype(np.float64)
    in_pred, in_ref = _presence(pred, num_classes), _presence(ref, num_classes)
    out[in_pred != in_ref] = float(np.linalg.norm(np.multiply(np.shape(pred)[1:], spacing)))
    out[~(in_pred | in_ref)] = np.nan
    return out


def score_table(
    pred: np.ndarray,
    ref: np.ndarray,
    class_names: Sequence[str],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    subjects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per subject and class: ``subject``, ``class``, ``dice``, ``hd95`` (mm); ``class_names``
    names classes 1..K-1, ``subjects`` the N maps (default their indices)."""
    num_classes = len(class_names) + 1
    dice, hd95 = dice_per_class(pred, ref, num_classes), hd95_per_class(pred, ref, num_classes, spacing)
    subjects = [str(i) for i in range(len(pred))] if subjects is None else list(subjects)
    return pd.DataFrame(
        {
            "subject": np.repeat(subjects, len(class_names)),
            "class": np.tile(list(class_names), len(subjects)),
            "dice": dice.ravel(),
            "hd95": hd95.ravel(),
        }
    )
