"""The demo's time-to-event outcome: tied to diagnosis and age as documented, censored by follow-up."""

from __future__ import annotations

import math

import numpy as np

from neuropeft.demo.outcome import FOLLOW_UP_YEARS, LOG_HR_DIAGNOSIS, LOG_HR_PER_DECADE, draw_outcome
from neuropeft.demo.settings import DemoSettings
from neuropeft.demo.subject import subject_profile
from neuropeft.outcomes import concordance


def test_the_log_hazard_follows_diagnosis_and_age() -> None:
    outcome = draw_outcome(np.random.default_rng(0), diagnosis=1, age_shift=20.0)
    assert math.isclose(outcome.log_hazard, LOG_HR_DIAGNOSIS + 2 * LOG_HR_PER_DECADE, abs_tol=1e-6)
    assert 0 < outcome.time <= FOLLOW_UP_YEARS[1] and outcome.event in (0, 1)


def test_many_draws_rank_by_the_true_hazard() -> None:
    rng = np.random.default_rng(1)
    draws = [draw_outcome(rng, int(i % 2), float(rng.uniform(-30, 30))) for i in range(2000)]
    times = np.array([d.time for d in draws])
    events = np.array([d.event for d in draws])
    log_hazard = np.array([d.log_hazard for d in draws])
    assert 0.4 < events.mean() < 0.9  # follow-up censors some, not most
    assert concordance(times, events, log_hazard) > 0.7
    diagnosed = log_hazard > LOG_HR_DIAGNOSIS - 2  # diagnosis 1 (the age term stays within ±1.5)
    assert np.median(times[diagnosed & (events == 1)]) < np.median(times[~diagnosed & (events == 1)])


def test_the_outcome_leaves_the_other_draws_unchanged() -> None:
    profile = subject_profile(DemoSettings(), 0)
    # as before the outcome existed (drawn last from the same stream)
    assert (profile.diagnosis, profile.age, profile.sex, round(profile.wm_fa, 6)) == (1, 51.8, "F", 0.594713)
    assert profile.record(DemoSettings())["time"] == profile.outcome.time
