"""``neuropeft score``: metrics of one predictions table (e.g. the fold models' ensemble on an external set).

Unlike ``aggregate-experiment`` there are no folds: the summary holds each metric on all rows and
its seeded bootstrap confidence interval.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from neuropeft.atomic import write_json
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.aggregate import json_number
from neuropeft.metrics.bootstrap import bootstrap_ci
from neuropeft.metrics.compute import check_predictions, compute_metrics, infer_task
from neuropeft.metrics.config import MetricsSettings, tool_versions


def score(predictions: pd.DataFrame, name: str, settings: MetricsSettings) -> dict:
    """The summary of one predictions table: metric value and bootstrap CI per metric."""
    values = compute_metrics(predictions)
    ci = bootstrap_ci(predictions, settings.bootstrap, settings.seed, settings.ci_level)
    return {
        "name": name,
        "task": infer_task(predictions),
        "n_predictions": len(predictions),
        "metrics": {
            m: {"value": json_number(v), "ci_low": json_number(ci[m][0]), "ci_high": json_number(ci[m][1])}
            for m, v in values.items()
        },
        "settings": asdict(settings),
        "versions": tool_versions(),
    }


def score_file(predictions: Path, name: str, out: Path, settings: MetricsSettings) -> None:
    """Score one predictions table and write the summary JSON."""
    if not predictions.is_file():
        raise NeuropeftError(f"missing predictions file {predictions}; run the step that writes it first")
    frame = pd.read_csv(
        predictions,
        sep="\t",
        dtype={"participant_id": str, "session": str},
        keep_default_na=False,
        na_values=["", "nan", "NaN", "NA"],
    )
    check_predictions(frame, str(predictions))
    write_json(out, score(frame, name, settings))
