"""Seeded percentile-bootstrap confidence intervals of the metrics of a predictions table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sklearn

from neuropeft.errors import NeuropeftError
from neuropeft.metrics.compute import compute_metrics, infer_task, metric_names


def bootstrap_ci(frame: pd.DataFrame, n: int, seed: int, level: float) -> dict[str, tuple[float, float]]:
    """Percentile CI at ``level`` of every metric over ``n`` row resamples drawn with ``seed``.

    Resamples where a metric is undefined (e.g. one class only, for AUC) are left out of that
    metric's interval; a metric undefined in every resample gets ``(nan, nan)``.
    """
    if n < 1:
        raise NeuropeftError(f"bootstrap count must be >= 1, got {n}; set metrics.bootstrap")
    if not 0.0 < level < 1.0:
        raise NeuropeftError(f"CI level must lie strictly between 0 and 1, got {level}; set metrics.ci_level")
    names = metric_names(infer_task(frame))
    rng = np.random.default_rng(seed)
    draws = np.full((n, len(names)), np.nan)
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):  # the same checked call, n times
        for i in range(n):
            values = compute_metrics(frame.iloc[rng.integers(0, len(frame), size=len(frame))])
            draws[i] = [values[name] for name in names]
    tail = (1.0 - level) / 2.0 * 100.0
    result: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        finite = draws[np.isfinite(draws[:, j]), j]
        if finite.size == 0:
            result[name] = (float("nan"), float("nan"))
        else:
            low, high = np.percentile(finite, [tail, 100.0 - tail])
            result[name] = (float(low), float(high))
    return result
