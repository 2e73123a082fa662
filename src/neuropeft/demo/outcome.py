"""The demo's synthetic time-to-event outcome (``task: survival``), tied to what the images show.

A subject's log hazard ratio is ``LOG_HR_DIAGNOSIS`` × diagnosis (the planted white-matter FA
effect) plus ``LOG_HR_PER_DECADE`` × (age − the cohort's middle age) / 10 (FA falls and MD rises with
age); the event time is exponential with hazard ``BASELINE_HAZARD`` × exp(log hazard ratio), and
follow-up ends (censoring) at a time uniform in ``FOLLOW_UP_YEARS``. The true log hazard ratio is in
``truth/labels.tsv``, so a model's concordance index can be set against the truth's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: log hazard ratio of diagnosis 1 (hazard ratio 4)
LOG_HR_DIAGNOSIS = math.log(4.0)
#: log hazard ratio per decade of age
LOG_HR_PER_DECADE = 0.5
#: events per year at hazard ratio 1
BASELINE_HAZARD = 0.1
#: follow-up ends at a time uniform in this range (years)
FOLLOW_UP_YEARS = (2.0, 10.0)


@dataclass(frozen=True)
class Outcome:
    """One subject's true log hazard ratio and observed outcome (years; event 1, censored 0)."""

    log_hazard: float
    time: float
    event: int


def draw_outcome(rng: np.random.Generator, diagnosis: int, age_shift: float) -> Outcome:
    """The outcome of a subject with ``diagnosis`` and age ``age_shift`` years from the middle age."""
    log_hazard = LOG_HR_DIAGNOSIS * diagnosis + LOG_HR_PER_DECADE * age_shift / 10.0
    event_time = float(rng.exponential(1.0 / (BASELINE_HAZARD * math.exp(log_hazard))))
    follow_up = float(rng.uniform(*FOLLOW_UP_YEARS))
    return Outcome(round(log_hazard, 6), round(max(min(event_time, follow_up), 0.01), 2), int(event_time <= follow_up))
