"""Prediction tasks: target encoding, loss, and the validation metric used for early stopping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.survival import cox_loss
from neuropeft.outcomes import concordance, parse_outcomes

#: task kinds ("auto": classification or regression, from the targets; see :func:`infer_task`; survival:
#: time-to-event outcomes, see :mod:`neuropeft.learn.survival`)
TASKS = ("auto", "classification", "regression", "survival")
#: class weighting of the classification loss: none, or balanced (inverse class frequency in the training part)
CLASS_WEIGHTS = ("none", "balanced")
#: "auto" picks classification when targets are non-numeric or integer-valued with at most this many values
MAX_AUTO_CLASSES = 20


def _as_float(values: Sequence[str]) -> np.ndarray | None:
    """The targets as floats, or None when any is not numeric."""
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None


def infer_task(targets: Sequence[str]) -> str:
    """``classification`` for non-numeric or few integer-valued targets, else ``regression``."""
    numbers = _as_float(targets)
    if numbers is None:
        return "classification"
    if np.all(numbers == np.round(numbers)) and len(np.unique(numbers)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def class_names(targets: Sequence[str]) -> list[str]:
    """Sorted class labels as strings ("1.0" and "1" both become "1"); numeric order when numeric."""
    numbers = _as_float(targets)
    if numbers is not None and np.all(numbers == np.round(numbers)):
        return [str(int(v)) for v in np.unique(numbers)]
    return sorted({str(v) for v in targets})


def normalise_label(value: str) -> str:
    """A class label in the form :func:`class_names` uses."""
    try:
        number = float(value)
    except ValueError:
        return str(value)
    return str(int(number)) if number == round(number) else str(value)


@dataclass
class Task:
    """A classification, regression or survival task fitted on the training part of one fold."""

    kind: str  # "classification" | "regression" | "survival"
    classes: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    class_weights: list[float] | None = None

    @classmethod
    def fit(cls, kind: str, train_targets: Sequence[str], class_weights: str = "none") -> Task:
        """Build the task from the training targets (``kind`` may be "auto")."""
        if look_up_option(kind, TASKS, "task") == "auto":
            kind = infer_task(train_targets)
        if kind == "classification":
            classes = class_names(train_targets)
            if len(classes) < 2:
                raise NeuropeftError(f"the training part has a single class {classes}; check the target column")
            weights = None
            if look_up_option(class_weights, CLASS_WEIGHTS, "class_weights") == "balanced":
                labels = [normalise_label(t) for t in train_targets]
                weights = compute_class_weight("balanced", classes=np.asarray(classes), y=np.asarray(labels)).tolist()
            return cls(kind, classes=classes, class_weights=weights)
        if kind == "survival":
            _, events = parse_outcomes(train_targets)
            if not events.any():
                raise NeuropeftError(
                    "the training part has no event (every subject censored); the Cox loss needs events"
                )
            return cls(kind)
        numbers = _as_float(train_targets)  # regression
        if numbers is None:
            raise NeuropeftError("task 'regression' needs numeric targets; set task to 'classification'")
        std = float(numbers.std()) or 1.0
        return cls(kind, mean=float(numbers.mean()), std=std)

    @property
    def out_features(self) -> int:
        """Number of model outputs: one logit per class, or one value."""
        return len(self.classes) if self.kind == "classification" else 1

    def encode(self, targets: Sequence[str]) -> torch.Tensor:
        """Targets as training tensors: class indices, standardised floats, or (time, event) rows."""
        if self.kind == "classification":
            index = {c: i for i, c in enumerate(self.classes)}
            labels = [normalise_label(t) for t in targets]
            unknown = sorted(set(labels) - set(index))
            if unknown:
                raise NeuropeftError(f"target class(es) {unknown} are absent from the training part; use fewer folds")
            return torch.tensor([index[v] for v in labels], dtype=torch.long)
        if self.kind == "survival":
            times, events = parse_outcomes(targets)
            return torch.tensor(np.stack([times, events], axis=1), dtype=torch.float32)
        numbers = _as_float(targets)
        return torch.tensor((numbers - self.mean) / self.std, dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (optionally class-weighted), L1 on the standardised target, or the Cox loss."""
        if self.kind == "classification":
            weight = None
            if self.class_weights is not None:
                weight = torch.tensor(self.class_weights, dtype=outputs.dtype, device=outputs.device)
            return torch.nn.functional.cross_entropy(outputs, encoded, weight=weight)
        if self.kind == "survival":
            return cox_loss(outputs, encoded[:, 0], encoded[:, 1])
        return torch.nn.functional.l1_loss(outputs.squeeze(1), encoded)

    def decode(self, outputs: torch.Tensor) -> np.ndarray:
        """Class probabilities (N, K), predictions in the target's units (N,), or risk scores (N,)."""
        outputs = outputs.float()
        if self.kind == "classification":
            return torch.softmax(outputs, dim=1).cpu().numpy()
        if self.kind == "survival":  # the log hazard ratio
            return outputs.squeeze(1).cpu().numpy()
        return outputs.squeeze(1).cpu().numpy() * self.std + self.mean

    @property
    def higher_is_better(self) -> bool:
        """AUC and the C-index rise, MAE falls."""
        return self.kind != "regression"

    def metric(self, decoded: np.ndarray, encoded: torch.Tensor) -> float:
        """Validation metric: ROC AUC (one-vs-rest macro for >2 classes), MAE in target units, or the C-index."""
        truth = encoded.cpu().numpy()
        if self.kind == "survival":
            return concordance(truth[:, 0], truth[:, 1], decoded)
        if self.kind == "classification":
            present = np.unique(truth)
            if len(present) < 2:
                return float("nan")
            if len(self.classes) == 2:
                return float(roc_auc_score(truth, decoded[:, 1]))
            return float(roc_auc_score(truth, decoded, multi_class="ovr", labels=list(range(len(self.classes)))))
        return float(mean_absolute_error(truth * self.std + self.mean, decoded))
