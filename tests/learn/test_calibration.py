"""A fold's threshold: fitted on its validation subjects only, it calls shifted probabilities right."""

from __future__ import annotations

import numpy as np
import pytest

from neuropeft.learn.calibration import (
    call,
    corrected_gap,
    fit_prediction_bias,
    fit_threshold,
    validation_threshold,
)


def _shifted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that rank well but sit just above 0.5: positives 0.53 ± 0.01, negatives 0.51 ± 0.01."""
    rng = np.random.default_rng(seed)
    positive = rng.integers(0, 2, n).astype(bool)
    return np.where(positive, 0.53, 0.51) + rng.normal(0, 0.01, n), positive


def test_a_threshold_fitted_on_validation_calls_shifted_test_probabilities_better_than_half() -> None:
    val_p, val_y = _shifted(40, seed=0)
    test_p, test_y = _shifted(400, seed=1)
    threshold = fit_threshold(val_p, val_y)
    assert 0.51 < threshold < 0.53
    fitted = np.mean((test_p >= threshold) == test_y)
    at_half = np.mean((test_p >= 0.5) == test_y)
    assert at_half < 0.6 < 0.8 < fitted


def test_the_threshold_maximises_youden_and_ties_go_towards_half() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    assert fit_threshold(p, y) == pytest.approx(0.45)  # every threshold in (0.3, 0.6) separates: the midpoint
    assert fit_threshold(np.array([0.2, 0.8]), np.array([True, True])) == 0.5  # one class: no information


def test_calls_use_the_threshold_for_two_classes_and_the_argmax_otherwise() -> None:
    two = np.array([[0.49, 0.51], [0.45, 0.55]])
    assert call(two, 0.52).tolist() == [0, 1] and call(two, None).tolist() == [1, 1]
    three = np.array([[0.2, 0.3, 0.5]])
    assert call(three, 0.9).tolist() == [2]
    assert validation_threshold("regression", np.zeros((3, 1)), np.zeros(3)) is None
    assert validation_threshold("classification", three, np.array([2])) is None


def test_the_age_bias_fitted_on_validation_removes_the_gaps_dependence_on_age() -> None:
    rng = np.random.default_rng(0)

    def cohort(n: int) -> tuple[np.ndarray, np.ndarray]:
        """Brain age regressed to the mean: predicted = 0.6 age + 20 + noise, a gap that falls with age."""
        age = rng.uniform(20, 80, n)
        return 0.6 * age + 20 + rng.normal(0, 2, n), age

    val_pred, val_age = cohort(60)
    bias = fit_prediction_bias(val_pred, val_age)
    assert (
        bias is not None and bias[0] == pytest.approx(-0.4, abs=0.03) and bias[1] == pytest.approx(20, abs=1.5)
    )  # gap = -0.4 age + 20
    test_pred, test_age = cohort(500)
    raw = test_pred - test_age
    corrected = corrected_gap(test_pred, test_age, bias)
    assert np.corrcoef(raw, test_age)[0, 1] < -0.9
    assert abs(np.corrcoef(corrected, test_age)[0, 1]) < 0.1 and abs(corrected.mean()) < 0.5
    assert fit_prediction_bias(val_pred, np.full(60, 40.0)) is None
    np.testing.assert_allclose(corrected_gap(test_pred, test_age, None), raw)
