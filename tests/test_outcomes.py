"""Time-to-event outcomes: the one-cell form, its checks, and the concordance index."""

from __future__ import annotations

import numpy as np
import pytest

from neuropeft.outcomes import concordance, outcome_cell, outcome_problem, parse_outcomes


def test_outcome_cells_round_trip() -> None:
    cells = [outcome_cell("12.50", "1"), outcome_cell("3", "false"), outcome_cell("7.25", "TRUE")]
    assert cells == ["12.5:1", "3:0", "7.25:1"]
    times, events = parse_outcomes(cells)
    np.testing.assert_array_equal(times, [12.5, 3.0, 7.25])
    np.testing.assert_array_equal(events, [1, 0, 1])


@pytest.mark.parametrize(
    ("time", "event", "fragment"),
    [
        ("soon", "1", "not a number"),
        ("0", "1", "positive"),
        ("-2", "0", "positive"),
        ("inf", "1", "positive"),
        ("4", "2", "1 (event) or 0"),
        ("4", "", "1 (event) or 0"),
    ],
)
def test_bad_outcomes_are_named(time: str, event: str, fragment: str) -> None:
    assert fragment in outcome_problem(time, event)


def test_a_good_outcome_has_no_problem() -> None:
    assert outcome_problem("4.5", "0") == ""


def test_concordance_against_a_hand_count() -> None:
    # times 1 (event), 2 (censored), 3 (event), 4 (event). Comparable pairs: an earlier event with any
    # later time: (1,2) (1,3) (1,4) (3,4); the censored subject at 2 starts no pair.
    times, events = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1])
    assert concordance(times, events, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0
    assert concordance(times, events, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    # risk 4,1,2,3: (1,2) right, (1,3) right, (1,4) right, (3,4): risk 2 < 3, wrong -> 3 of 4
    assert concordance(times, events, np.array([4.0, 1.0, 2.0, 3.0])) == pytest.approx(0.75)
    # a tied risk counts one half: (1,2) tie -> (0.5 + 1 + 1 + 1) / 4
    assert concordance(times, events, np.array([3.0, 3.0, 2.0, 1.0])) == pytest.approx(3.5 / 4)


def test_concordance_without_comparable_pairs_is_nan() -> None:
    assert np.isnan(concordance(np.array([1.0, 2.0]), np.array([0, 0]), np.array([1.0, 2.0])))
