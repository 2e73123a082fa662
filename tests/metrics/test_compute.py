"""Metrics on hand-made prediction tables against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.metrics.bootstrap import bootstrap_ci
from neuropeft.metrics.compute import check_predictions, compute_metrics, infer_task, metric_names


def binary_table() -> pd.DataFrame:
    """5 negatives, 3 positives: TN 4, FP 1, TP 2, FN 1; 12 of the 15 positive/negative pairs ranked right."""
    prob_1 = [0.1, 0.2, 0.3, 0.45, 0.7, 0.8, 0.6, 0.4]
    return pd.DataFrame(
        {
            "participant_id": [f"sub-{i:03d}" for i in range(8)],
            "y_true": [0, 0, 0, 0, 0, 1, 1, 1],
            "prob_0": [1 - p for p in prob_1],
            "prob_1": prob_1,
            "y_pred": [0, 0, 0, 0, 1, 1, 1, 0],
        }
    )


def test_binary_metrics_match_hand_counts() -> None:
    metrics = compute_metrics(binary_table())
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert metrics["sensitivity"] == pytest.approx(2 / 3)  # TP / (TP + FN)
    assert metrics["specificity"] == pytest.approx(4 / 5)  # TN / (TN + FP)
    assert metrics["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert metrics["auc"] == pytest.approx(12 / 15)
    assert metrics["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3


def test_positive_class_is_the_larger_label_whatever_the_label_type() -> None:
    table = binary_table()
    relabelled = table.rename(columns={"prob_0": "prob_1", "prob_1": "prob_2"})
    relabelled["y_true"] += 1
    relabelled["y_pred"] += 1
    as_float = table.astype({"y_true": float, "y_pred": float})  # labels read back as 0.0 / 1.0
    expected = compute_metrics(table)
    assert compute_metrics(relabelled) == pytest.approx(expected)
    assert compute_metrics(as_float) == pytest.approx(expected)


def test_multiclass_metrics_are_macro_averages() -> None:
    table = pd.DataFrame(
        {
            "y_true": [0, 0, 1, 1, 2, 2],
            "y_pred": [0, 1, 1, 1, 2, 0],
            "prob_0": [0.6, 0.3, 0.2, 0.1, 0.1, 0.5],
            "prob_1": [0.3, 0.5, 0.7, 0.6, 0.2, 0.1],
            "prob_2": [0.1, 0.2, 0.1, 0.3, 0.7, 0.4],
        }
    )
    metrics = compute_metrics(table)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["sensitivity"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)  # recall per class
    assert metrics["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert metrics["specificity"] == pytest.approx((3 / 4 + 3 / 4 + 1) / 3)  # TN/(TN+FP) per class
    assert metrics["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert metrics["auc"] == pytest.approx((7 / 8 + 1 + 1) / 3)  # one-vs-rest pair counts


def test_regression_metrics() -> None:
    table = pd.DataFrame({"y_true": [1.0, 2.0, 3.0, 4.0], "y_pred": [2.0, 2.0, 4.0, 4.0]})
    assert infer_task(table) == "regression"
    metrics = compute_metrics(table)
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(math.sqrt(0.5))
    # deviations (-1.5, -0.5, 0.5, 1.5) and (-1, -1, 1, 1): r = 4 / sqrt(5 * 4)
    assert metrics["pearson_r"] == pytest.approx(4 / math.sqrt(20))
    assert metrics["r2"] == pytest.approx(1 - 2.0 / 5.0)  # residuals 1, 0, 1, 0; total sum of squares 5


def test_auc_of_a_single_class_table_is_nan_not_an_error() -> None:
    table = binary_table().iloc[:5]  # negatives only
    assert math.isnan(compute_metrics(table)["auc"])


def test_check_predictions_names_unknown_labels_and_missing_columns() -> None:
    table = binary_table()
    table.loc[0, "y_true"] = 3
    with pytest.raises(NeuropeftError, match=r"preds\.tsv: labels \['3'\]"):
        check_predictions(table, "preds.tsv")
    with pytest.raises(NeuropeftError, match="y_pred"):
        check_predictions(binary_table().drop(columns="y_pred"), "preds.tsv")


def _larger_binary(seed: int = 3, n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    prob_1 = np.clip(0.5 + 0.25 * (y_true - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    return pd.DataFrame(
        {"y_true": y_true, "prob_0": 1 - prob_1, "prob_1": prob_1, "y_pred": (prob_1 >= 0.5).astype(int)}
    )


def test_bootstrap_is_seeded_and_contains_the_point_estimate() -> None:
    table = _larger_binary()
    first = bootstrap_ci(table, n=60, seed=7, level=0.95)
    again = bootstrap_ci(table, n=60, seed=7, level=0.95)
    other = bootstrap_ci(table, n=60, seed=8, level=0.95)
    narrow = bootstrap_ci(table, n=60, seed=7, level=0.5)
    assert first == again
    assert first != other
    point = compute_metrics(table)
    for name, (low, high) in first.items():
        assert low < point[name] < high, name
        assert narrow[name][0] >= low and narrow[name][1] <= high


def test_bootstrap_regression_and_bad_level() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 60)
    table = pd.DataFrame({"y_true": y, "y_pred": y + rng.normal(0, 3, 60)})
    ci = bootstrap_ci(table, n=100, seed=1, level=0.9)
    assert set(ci) == {"mae", "rmse", "pearson_r", "r2"}
    assert ci["mae"][0] < compute_metrics(table)["mae"] < ci["mae"][1]
    with pytest.raises(NeuropeftError, match="ci_level"):
        bootstrap_ci(table, n=10, seed=1, level=95)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_threshold_metrics_equal_scikit_learns_own_functions(n_classes: int) -> None:
    import warnings

    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    rng = np.random.default_rng(n_classes)
    for size in [3, 5, 12, 40] * 5:
        y_true = rng.integers(0, n_classes, size)  # small tables often miss a class
        y_pred = rng.integers(0, n_classes, size)
        probs = rng.dirichlet(np.ones(n_classes), size)
        frame = pd.DataFrame(
            {"y_true": y_true, "y_pred": y_pred, **{f"prob_{k}": probs[:, k] for k in range(n_classes)}}
        )
        labels = list(range(n_classes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)
            per_class = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
            specificity = per_class[:, 0, 0] / (per_class[:, 0, 0] + per_class[:, 0, 1])
            balanced = balanced_accuracy_score(y_true, y_pred)
            reduce = (lambda v: v[1]) if n_classes == 2 else np.nanmean
            expected = [accuracy_score(y_true, y_pred), balanced, reduce(recall), reduce(specificity), reduce(f1)]
        values = compute_metrics(frame)
        mine = [values[name] for name in ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1")]
        np.testing.assert_allclose(mine, expected, rtol=1e-12, equal_nan=True)


def test_brier_score_is_scikit_learns_for_two_classes_and_brier_s_original_form_for_more() -> None:
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 30)
    p1 = rng.uniform(0, 1, 30)
    frame = pd.DataFrame({"y_true": y, "y_pred": (p1 > 0.5).astype(int), "prob_0": 1 - p1, "prob_1": p1})
    assert compute_metrics(frame)["brier"] == pytest.approx(brier_score_loss(y, p1))
    three = pd.DataFrame(
        {
            "y_true": [0, 1, 2],
            "y_pred": [0, 1, 1],
            "prob_0": [1.0, 0.0, 0.2],
            "prob_1": [0.0, 1.0, 0.5],
            "prob_2": [0.0, 0.0, 0.3],
        }
    )
    # only the third row misses: (0.2² + 0.5² + 0.7²) / 3 subjects
    assert compute_metrics(three)["brier"] == pytest.approx((0.04 + 0.25 + 0.49) / 3)


def test_a_survival_table_is_told_by_its_risk_column() -> None:
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": [1, 1, 0], "risk": [2.0, 1.0, 0.0]})
    assert infer_task(frame) == "survival" and metric_names("survival") == ("c_index",)
    assert compute_metrics(frame) == {"c_index": 1.0}
    check_predictions(frame, "p.tsv")
    with pytest.raises(
        NeuropeftError, match=r"missing column\(s\) \['event'\]; predictions.tsv needs time, event, risk"
    ):
        check_predictions(frame.drop(columns="event"), "p.tsv")
    with pytest.raises(NeuropeftError, match="empty values"):
        check_predictions(frame.assign(time=[1.0, None, 3.0]), "p.tsv")
