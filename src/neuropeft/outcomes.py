"""Time-to-event outcomes (``task: survival``): their one-cell form and the concordance index (no torch here:
the metrics jobs import it).

A subject's outcome is a follow-up time and an event indicator (1: the event happened at that time,
0: censored, still event-free when last seen). The cohort and index tables carry it in their one
``target`` cell as ``"<time>:<event>"`` (:func:`outcome_cell`), so every table that carries a
target carries the outcome unchanged; participants.tsv keeps two plain columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: separates time and event in a target cell ("12.5:1")
SEPARATOR = ":"
#: the event column's accepted values: event happened / censored
EVENT_VALUES = {"1": 1, "0": 0, "true": 1, "false": 0}


def outcome_problem(time: str, event: str) -> str:
    """Why (time, event) is not a usable outcome ("" when it is)."""
    try:
        value = float(time)
    except ValueError:
        return f"time {time!r} is not a number"
    if not math.isfinite(value) or value <= 0:
        return f"time {time!r} must be a positive number"
    if event.strip().lower() not in EVENT_VALUES:
        return f"event {event!r} must be 1 (event) or 0 (censored)"
    return ""


def outcome_cell(time: str, event: str) -> str:
    """The one-cell form of a checked outcome: ``"<time>:<event>"`` with event 0 or 1."""
    return f"{float(time):g}{SEPARATOR}{EVENT_VALUES[event.strip().lower()]}"


def parse_outcomes(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Times (float) and events (0/1 int) of one-cell outcomes."""
    pairs = [str(cell).split(SEPARATOR) for cell in cells]
    times = np.asarray([float(pair[0]) for pair in pairs], dtype=np.float64)
    events = np.asarray([int(pair[1]) for pair in pairs], dtype=np.int64)
    return times, events


def concordance(times: np.ndarray, events: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C-index of ``risk`` (higher = earlier event), via lifelines; NaN without a comparable pair."""
    from lifelines.utils import concordance_index  # here: lifelines takes 1.5 s to import

    try:
        return float(concordance_index(times, -np.asarray(risk, dtype=np.float64), events))
    except ZeroDivisionError:  # lifelines: no admissible pairs
        return float("nan")
