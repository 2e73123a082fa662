"""What a fold fits on its own validation subjects only, after training: a two-class decision
threshold, and for a regression (brain age) the age bias of its predictions.

A model can rank subjects well while its probabilities sit near 0.5 (a short fine-tuning, a
balanced loss): at the fixed 0.5 threshold it then calls nearly everyone one class. Each fold
therefore picks the threshold on the positive class's probability that maximises Youden's J
(sensitivity + specificity − 1, i.e. balanced accuracy) on its validation part, ties broken towards
0.5, and its test subjects are called at that threshold. Two-class tasks only; with more classes, or
a validation part holding one class, the argmax (0.5 for two classes) stays.
"""

from __future__ import annotations

import numpy as np

#: the threshold of the argmax rule for two classes
DEFAULT_THRESHOLD = 0.5


def fit_threshold(positive_probability: np.ndarray, is_positive: np.ndarray) -> float:
    """The threshold maximising Youden's J on these (validation) subjects; predicted positive when
    ``p >= threshold``. Candidates lie midway between neighbouring distinct probabilities."""
    p = np.asarray(positive_probability, dtype=float)
    y = np.asarray(is_positive, dtype=bool)
    if y.all() or not y.any():
        return DEFAULT_THRESHOLD
    values = np.unique(p)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    called = p[None, :] >= candidates[:, None]
    youden = (called & y).sum(axis=1) / y.sum() + (~called & ~y).sum(axis=1) / (~y).sum() - 1
    best = np.flatnonzero(np.isclose(youden, youden.max()))
    return float(candidates[best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]])


def call(decoded: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: two classes at ``threshold`` on the second's probability, else the argmax."""
    if threshold is None or decoded.shape[1] != 2:
        return decoded.argmax(axis=1)
    return (decoded[:, 1] >= threshold).astype(int)


def validation_threshold(kind: str, decoded: np.ndarray, encoded: np.ndarray) -> float | None:
    """The fold's threshold from its validation outputs (probabilities, encoded classes): fitted for
    two classes, None otherwise (regression, or the argmax of several classes)."""
    if kind != "classification" or decoded.shape[1] != 2:
        return None
    return fit_threshold(decoded[:, 1], np.asarray(encoded) == 1)


def fit_prediction_bias(predicted: np.ndarray, true: np.ndarray) -> tuple[float, float] | None:
    """Slope and intercept of the prediction gap (predicted − true) regressed on the true value, fitted
    on validation subjects: the age bias of brain-age models (regression to the mean makes the gap
    fall with age). The linear correction of Beheshti et al., NeuroImage: Clinical 24 (2019) 102063,
    also used by Smith et al. (2019) in its simplest form. None when the true values do not vary."""
    true = np.asarray(true, dtype=float)
    known = np.isfinite(true)
    if known.sum() < 2 or np.ptp(true[known]) == 0:
        return None
    slope, intercept = np.polyfit(true[known], np.asarray(predicted, dtype=float)[known] - true[known], 1)
    return float(slope), float(intercept)


def corrected_gap(predicted: np.ndarray, true: np.ndarray, bias: tuple[float, float] | None) -> np.ndarray:
    """The prediction gap minus the fitted age bias (the gap itself when there is no fit)."""
    gap = np.asarray(predicted, dtype=float) - np.asarray(true, dtype=float)
    if bias is None:
        return gap
    slope, intercept = bias
    return gap - (slope * np.asarray(true, dtype=float) + intercept)
