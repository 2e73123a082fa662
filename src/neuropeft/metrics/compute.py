"""Performance metrics from one predictions table (scikit-learn / scipy), for any task.

A predictions table has ``y_true`` and ``y_pred``; classification tables also have one
``prob_<class>`` column per class (the task is inferred from those columns). In the binary case
the positive class is the larger label (``1`` for 0/1 labels). Survival tables have ``time``,
``event`` and ``risk`` instead (the task is inferred from ``risk``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import pearsonr
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import confusion_matrix, mean_absolute_error, r2_score, roc_auc_score, root_mean_squared_error

from neuropeft.errors import NeuropeftError
from neuropeft.outcomes import concordance

PROB_PREFIX = "prob_"
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "auc", "sensitivity", "specificity", "f1", "brier")
REGRESSION_METRICS = ("mae", "rmse", "pearson_r", "r2")
SURVIVAL_METRICS = ("c_index",)
#: the columns of a survival predictions table
SURVIVAL_COLUMNS = ("time", "event", "risk")
#: metric -> True where larger values are better
HIGHER_IS_BETTER = (
    {name: True for name in CLASSIFICATION_METRICS}
    | {"brier": False}
    | {"mae": False, "rmse": False, "pearson_r": True, "r2": True}
    | {"c_index": True}
)


def label_text(value: object) -> str:
    """A class label as text: integral numbers lose their ``.0`` so ``1.0``, ``1`` and ``"1"`` agree."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


@dataclass(frozen=True)
class Classes:
    """The class labels of a classification table (sorted; numeric labels numerically)."""

    labels: tuple[str, ...]

    @property
    def positive(self) -> str:
        """The positive class of a binary task: the larger label."""
        return self.labels[-1]

    @property
    def prob_columns(self) -> list[str]:
        """The ``prob_<class>`` columns in label order."""
        return [PROB_PREFIX + label for label in self.labels]


def infer_task(frame: pd.DataFrame) -> str:
    """``"survival"`` when the table has a ``risk`` column, ``"classification"`` when it has ``prob_*``
    columns, else ``"regression"``."""
    if "risk" in frame.columns:
        return "survival"
    return "classification" if any(str(c).startswith(PROB_PREFIX) for c in frame.columns) else "regression"


def classes_of(frame: pd.DataFrame) -> Classes:
    """The classes named by the ``prob_<class>`` columns."""
    labels = [str(c)[len(PROB_PREFIX) :] for c in frame.columns if str(c).startswith(PROB_PREFIX)]
    if len(labels) < 2:
        raise NeuropeftError(f"a classification predictions table needs >= 2 prob_<class> columns, found {labels}")
    return Classes(tuple(sorted(labels, key=_sort_key)))


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics reported for ``task``."""
    return {"classification": CLASSIFICATION_METRICS, "survival": SURVIVAL_METRICS}.get(task, REGRESSION_METRICS)


def check_predictions(frame: pd.DataFrame, source: str) -> None:
    """Refuse a predictions table missing ``y_true``/``y_pred`` (survival: ``time``/``event``/``risk``),
    with empty values, or with unknown labels."""
    required = list(SURVIVAL_COLUMNS) if infer_task(frame) == "survival" else ["y_true", "y_pred"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise NeuropeftError(f"{source}: missing column(s) {missing}; predictions.tsv needs {', '.join(required)}")
    if frame.empty:
        raise NeuropeftError(f"{source}: no prediction rows")
    needed = required + [c for c in frame.columns if str(c).startswith(PROB_PREFIX)]
    if frame[needed].isna().any().any():
        raise NeuropeftError(f"{source}: empty values in {needed}; every test subject needs a prediction")
    if infer_task(frame) == "classification":
        known = set(classes_of(frame).labels)
        unknown = sorted({label_text(v) for v in pd.concat([frame["y_true"], frame["y_pred"]])} - known)
        if unknown:
            raise NeuropeftError(f"{source}: labels {unknown} have no prob_<class> column (columns: {sorted(known)})")


def _probabilities(frame: pd.DataFrame, classes: Classes) -> np.ndarray:
    """Class probabilities in label order, rows rescaled to sum to 1 (undoes rounding in the TSV)."""
    probs = frame[classes.prob_columns].to_numpy(dtype=float)
    return probs / probs.sum(axis=1, keepdims=True)


def _codes(values: pd.Series, classes: Classes) -> np.ndarray:
    """Labels as indices into ``classes.labels`` (integers keep scikit-learn's input checks fast)."""
    return pd.Categorical(values.map(label_text), categories=list(classes.labels)).codes.astype(int)


def _auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC (binary: of the positive class; multi-class: one-vs-rest macro); NaN when undefined."""
    k = probs.shape[1]
    try:
        if k == 2:
            return float(roc_auc_score(y_true == 1, probs[:, 1]))
        return float(roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(k))))
    except ValueError:  # a class absent from y_true (older scikit-learn raises, newer warns and gives NaN)
        return float("nan")


def classification_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Accuracy, balanced accuracy, AUC, sensitivity, specificity, F1 and the Brier score of one table.

    The threshold metrics come from one scikit-learn confusion matrix (what ``accuracy_score``,
    ``balanced_accuracy_score``, ``precision_recall_fscore_support(zero_division=nan)`` and
    ``multilabel_confusion_matrix`` compute, tested equal to them): a bootstrap calls this a thousand
    times, and each of those functions re-validates its input.
    """
    classes = classes_of(frame)
    labels = list(range(len(classes.labels)))
    y_true = _codes(frame["y_true"], classes)
    y_pred = _codes(frame["y_pred"], classes)
    counts = confusion_matrix(y_true, y_pred, labels=labels).astype(float)  # rows: true class, columns: predicted
    tp = np.diag(counts)
    fn, fp = counts.sum(axis=1) - tp, counts.sum(axis=0) - tp
    tn = counts.sum() - tp - fn - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / (tp + fn)  # NaN for a class absent from y_true
        specificity_per_class = tn / (tn + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)  # NaN for a class absent from y_true and y_pred
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of classes all undefined
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # AUC with a class absent from y_true
        if len(labels) == 2:  # positive class: the larger label, index 1
            sensitivity, specificity, f1_value = recall[1], specificity_per_class[1], f1[1]
        else:
            sensitivity, specificity, f1_value = np.nanmean(recall), np.nanmean(specificity_per_class), np.nanmean(f1)
        balanced = np.nanmean(recall)  # classes absent from y_true left out, as scikit-learn does
        probs = _probabilities(frame, classes)
        auc = _auc(y_true, probs)
    return {
        "accuracy": float(tp.sum() / counts.sum()),
        "balanced_accuracy": float(balanced),
        "auc": auc,
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
        "f1": float(f1_value),
        "brier": _brier(y_true, probs),
    }


def _brier(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Brier score: two classes, the mean squared error of the positive class's probability; more,
    the mean over subjects of the squared distance to the one-hot truth (Brier's original form)."""
    if probs.shape[1] == 2:
        return float(np.mean((probs[:, 1] - (y_true == 1)) ** 2))
    return float(np.mean(((probs - np.eye(probs.shape[1])[y_true]) ** 2).sum(axis=1)))


def regression_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """MAE, RMSE, Pearson r and R² of one table (r is NaN for fewer than 2 rows or constant values)."""
    y_true = frame["y_true"].to_numpy(dtype=float)
    y_pred = frame["y_pred"].to_numpy(dtype=float)
    if len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        r = float("nan")
    else:
        r = float(pearsonr(y_true, y_pred).statistic)
    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "pearson_r": r,
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) >= 2 else float("nan"),
    }


def survival_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Harrell's concordance index of the predicted risk (NaN without a comparable pair)."""
    times, events = frame["time"].to_numpy(dtype=float), frame["event"].to_numpy(dtype=int)
    return {"c_index": concordance(times, events, frame["risk"].to_numpy(dtype=float))}


def compute_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """All metrics of one predictions table; the task is inferred from its columns."""
    task = infer_task(frame)
    if task == "classification":
        return classification_metrics(frame)
    if task == "survival":
        return survival_metrics(frame)
    return regression_metrics(frame)
