"""Client weighting of federated aggregation (federated/strategies.py): each rule on small hand-made
updates whose weights are worked out by hand in the comments."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.federated.strategies import (
    CROSS_EVALUATED,
    STRATEGIES,
    ClientUpdate,
    CrossScores,
    StrategyState,
    aggregate,
    client_weights,
)

ZERO = {"w": np.zeros(3, dtype=np.float32)}


def updates_of(deltas: dict[str, list[float]], base: dict[str, np.ndarray] = ZERO, n_train=None) -> list[ClientUpdate]:
    """One update per site: ``base`` plus its delta, with ``n_train`` subjects (10 each by default)."""
    n_train = n_train or [10] * len(deltas)
    return [
        ClientUpdate(site, {"w": (base["w"] + np.array(d)).astype(np.float32)}, n)
        for (site, d), n in zip(deltas.items(), n_train, strict=True)
    ]


def cross_of(loss=None, metric=None, n_val=None, k: int = 3) -> CrossScores:
    """Cross scores with zeros (loss, metric) and ones (n_val) where not given."""
    return CrossScores(
        loss=np.zeros((k, k)) if loss is None else np.array(loss, dtype=float),
        metric=np.zeros((k, k)) if metric is None else np.array(metric, dtype=float),
        n_val=np.ones(k) if n_val is None else np.array(n_val, dtype=float),
    )


def test_strategies_are_described_and_cross_evaluated_ones_known() -> None:
    assert set(STRATEGIES) == {"simple_avg", "fedavg", "fedce", "rate_my_lora"}
    assert CROSS_EVALUATED == {"fedce", "rate_my_lora"}
    assert all(text.strip() for text in STRATEGIES.values())


def test_simple_avg_and_fedavg() -> None:
    updates = updates_of({"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}, n_train=[10, 30, 60])
    state = StrategyState()
    assert client_weights("simple_avg", updates, ZERO, None, state, 1) == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    # FedAvg: n / sum(n) = 10/100, 30/100, 60/100
    assert client_weights("fedavg", updates, ZERO, None, state, 1) == pytest.approx([0.1, 0.3, 0.6])
    assert state == StrategyState()  # neither carries anything over


# FedCE, worked by hand (module docstring's formulas, fedce_mode "plus").
#
# Round 1: global 0, deltas a = (1,0,0), b = (1,0,0), c = (0,1,0); no previous weights, so p = (1/3, 1/3, 1/3).
#   consensus = (a + b + c) / 3 = (2/3, 1/3, 0)
#   a: others = consensus - a/3 = (1/3, 1/3, 0), cos = 1/sqrt(2); b likewise; c: others = (2/3, 0, 0), cos = 0
#   gradient score g = 1 - cos = (0.292893, 0.292893, 1), normalised g' = (0.184699, 0.184699, 0.630602)
#   loss (row = site's validation data, column = update):  [0.2 0.4 0.6] / [0.3 0.1 0.5] / [0.8 1.0 0.1]
#   data score = the others' mean loss on the site's data (p equal): a (0.4+0.6)/2 = 0.5, b 0.4, c 0.9
#   normalised d' = (5/18, 4/18, 9/18) = (0.277778, 0.222222, 0.5)
#   weights (g' + d') / 2 = (0.231238, 0.203460, 0.565301): c, the update pointing elsewhere whose data
#   the others serve worst, counts most.
# Round 2: global (0.5, 0.5, 0.5), deltas a = (1,0,0), b = (0,1,0), c = (0,0,2): orthogonal, every cos 0.
#   running mean of cos: a (1/sqrt(2) + 0)/2 = 0.353553, b the same, c 0
#   g = (0.646447, 0.646447, 1), g' = (0.281934, 0.281934, 0.436131)
#   loss: [0 0.2 0.6] / [0.4 0 0.4] / [0.3 0.3 0]; p = round 1's weights
#   a: (p_b 0.2 + p_c 0.6) / (p_b + p_c) = (0.040692 + 0.339181) / 0.768762 = 0.494137; b 0.4; c 0.3
#   running mean of those: a (0.5 + 0.494137)/2 = 0.497068, b 0.4, c (0.9 + 0.3)/2 = 0.6
#   d' = (0.332028, 0.267190, 0.400783)
#   weights (g' + d') / 2 = (0.306981, 0.274562, 0.418457)
ROUND_1 = updates_of({"a": [1, 0, 0], "b": [1, 0, 0], "c": [0, 1, 0]})
LOSS_1 = [[0.2, 0.4, 0.6], [0.3, 0.1, 0.5], [0.8, 1.0, 0.1]]
GLOBAL_2 = {"w": np.full(3, 0.5, dtype=np.float32)}
ROUND_2 = updates_of({"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 2]}, base=GLOBAL_2)
LOSS_2 = [[0.0, 0.2, 0.6], [0.4, 0.0, 0.4], [0.3, 0.3, 0.0]]


def fedce_round_1() -> list[float]:
    """Round 1's weights by the hand computation above."""
    g = [1 - 1 / math.sqrt(2), 1 - 1 / math.sqrt(2), 1.0]
    d = [0.5, 0.4, 0.9]
    return [(gi / sum(g) + di / sum(d)) / 2 for gi, di in zip(g, d, strict=True)]


def test_fedce_two_rounds_by_hand() -> None:
    state = StrategyState()
    w1 = client_weights("fedce", ROUND_1, ZERO, cross_of(LOSS_1), state, 1)
    assert w1 == pytest.approx(fedce_round_1(), abs=1e-6)
    assert w1 == pytest.approx([0.231238, 0.203460, 0.565301], abs=1e-6)
    assert state.weights == pytest.approx(dict(zip("abc", w1, strict=True)))

    w2 = client_weights("fedce", ROUND_2, GLOBAL_2, cross_of(LOSS_2), state, 2)
    p = fedce_round_1()
    g = [1 - (1 / math.sqrt(2)) / 2, 1 - (1 / math.sqrt(2)) / 2, 1.0]
    d = [(0.5 + (p[1] * 0.2 + p[2] * 0.6) / (p[1] + p[2])) / 2, 0.4, (0.9 + 0.3) / 2]
    expected = [(gi / sum(g) + di / sum(d)) / 2 for gi, di in zip(g, d, strict=True)]
    assert w2 == pytest.approx(expected, abs=1e-6)
    assert w2 == pytest.approx([0.306981, 0.274562, 0.418457], abs=1e-6)
    assert state.rounds == {"a": 2, "b": 2, "c": 2}


def test_fedce_round_2_depends_on_round_1() -> None:
    """The same round 2 from a fresh state gives other weights: FedCE runs over rounds."""
    fresh = client_weights("fedce", ROUND_2, GLOBAL_2, cross_of(LOSS_2), StrategyState(), 2)
    state = StrategyState()
    client_weights("fedce", ROUND_1, ZERO, cross_of(LOSS_1), state, 1)
    running = client_weights("fedce", ROUND_2, GLOBAL_2, cross_of(LOSS_2), state, 2)
    assert np.abs(fresh - running).max() > 0.01


def test_fedce_missing_and_new_clients() -> None:
    state = StrategyState()
    client_weights("fedce", ROUND_1, ZERO, cross_of(LOSS_1), state, 1)
    before = copy.deepcopy(state)
    # round 2: b is missing, d is new; d enters the prior with 1/K = 1/3 before renormalising
    updates = updates_of({"a": [1, 0, 0], "c": [0, 1, 0], "d": [0, 0, 1]})
    loss = [[0.0, 0.2, 0.6], [0.5, 0.0, 0.5], [0.7, 0.7, 0.0]]
    weights = client_weights("fedce", updates, ZERO, cross_of(loss), state, 2)
    assert len(weights) == 3 and weights.sum() == pytest.approx(1.0) and (weights >= 0).all()
    for entries in ("weights", "similarity", "error", "rounds"):
        assert getattr(state, entries)["b"] == getattr(before, entries)["b"]  # absent: untouched
    assert state.rounds == {"a": 2, "b": 1, "c": 2, "d": 1}
    # a's data score this round: loss of c's and d's updates on a's data, weighted by their priors
    p_c, p_d = before.weights["c"], 1 / 3
    assert state.error["a"] == pytest.approx((0.5 + (p_c * 0.2 + p_d * 0.6) / (p_c + p_d)) / 2)


# Rate-My-LoRA (our rating, see the module docstring), worked by hand.
#   metric (row = site's validation data, column = update), n_val = (10, 30, 60):
#     [0.9 0.6 0.7] / [0.5 0.8 0.6] / [0.6 0.7 0.8]
#   score of update j = sum_i n_val_i metric[i, j] / 100:
#     a (9 + 15 + 36)/100 = 0.60, b (6 + 24 + 42)/100 = 0.72, c (7 + 18 + 48)/100 = 0.73
#   rating = score - worst = (0, 0.12, 0.13); times n_train (100, 50, 50) = (0, 6, 6.5); / 12.5
#   weights (0, 0.48, 0.52): the worst-rated update drops out this round, despite the most subjects.
RML_METRIC = [[0.9, 0.6, 0.7], [0.5, 0.8, 0.6], [0.6, 0.7, 0.8]]
RML_UPDATES = updates_of({"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}, n_train=[100, 50, 50])


def test_rate_my_lora_by_hand() -> None:
    state = StrategyState()
    weights = client_weights(
        "rate_my_lora", RML_UPDATES, ZERO, cross_of(metric=RML_METRIC, n_val=[10, 30, 60]), state, 1
    )
    assert weights == pytest.approx([0.0, 0.48, 0.52])
    assert state == StrategyState()  # nothing carried over: the next round starts afresh


def test_rate_my_lora_leaves_out_undefined_scores() -> None:
    # site a's validation data gives no AUC (NaN row): scores over b and c only, n_val 30 and 60:
    #   a (0.5*30 + 0.6*60)/90 = 0.566667, b (0.8*30 + 0.7*60)/90 = 0.733333, c (0.6*30 + 0.8*60)/90 = 0.733333
    #   rating (0, 1/6, 1/6) times (100, 50, 50): weights (0, 0.5, 0.5)
    metric = [[np.nan] * 3, RML_METRIC[1], RML_METRIC[2]]
    weights = client_weights(
        "rate_my_lora", RML_UPDATES, ZERO, cross_of(metric=metric, n_val=[10, 30, 60]), StrategyState(), 1
    )
    assert weights == pytest.approx([0.0, 0.5, 0.5])


def test_rate_my_lora_regression_and_ties() -> None:
    # negative MAE, every site's data alike: scores (-5, -4, -3), ratings (0, 1, 2), equal n_train
    metric = [[-5.0, -4.0, -3.0]] * 3
    updates = updates_of({"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]})
    assert client_weights("rate_my_lora", updates, ZERO, cross_of(metric=metric), StrategyState(), 1) == pytest.approx(
        [0.0, 1 / 3, 2 / 3]
    )
    # every update rated alike: the training subjects alone, (100, 50, 50) / 200
    tied = cross_of(metric=[[0.7] * 3] * 3)
    assert client_weights("rate_my_lora", RML_UPDATES, ZERO, tied, StrategyState(), 1) == pytest.approx(
        [0.5, 0.25, 0.25]
    )


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_weights_are_non_negative_and_sum_to_one(strategy: str) -> None:
    rng = np.random.default_rng(7)
    state = StrategyState()
    global_arrays = {"w": rng.normal(size=(4, 5)).astype(np.float32), "b": rng.normal(size=5).astype(np.float32)}
    for server_round, k in enumerate((4, 3, 5), start=1):
        updates = [
            ClientUpdate(
                f"site{i}",
                {n: v + rng.normal(size=v.shape).astype(np.float32) for n, v in global_arrays.items()},
                int(rng.integers(5, 50)),
            )
            for i in range(k)
        ]
        cross = cross_of(rng.uniform(0.1, 2, (k, k)), rng.uniform(0.4, 1, (k, k)), rng.integers(3, 20, k), k=k)
        weights = client_weights(strategy, updates, global_arrays, cross, state, server_round)
        assert weights.shape == (k,)
        assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_lone_update_gets_everything(strategy: str) -> None:
    state = StrategyState()
    updates = updates_of({"a": [1, 2, 3]})
    assert client_weights(strategy, updates, ZERO, cross_of(k=1), state, 1) == pytest.approx([1.0])
    assert state == StrategyState()


def test_aggregate_is_the_weighted_mean() -> None:
    updates = [
        ClientUpdate("a", {"w": np.array([1.0, 2.0], np.float32), "b": np.array([[4.0]], np.float32)}, 1),
        ClientUpdate("b", {"w": np.array([3.0, 6.0], np.float32), "b": np.array([[0.0]], np.float32)}, 1),
    ]
    mean = aggregate(updates, np.array([0.25, 0.75]))
    # w: 0.25*1 + 0.75*3 = 2.5, 0.25*2 + 0.75*6 = 5; b: 0.25*4 + 0.75*0 = 1
    assert mean["w"].tolist() == [2.5, 5.0] and mean["b"].tolist() == [[1.0]]
    assert mean["w"].dtype == np.float32 and mean["b"].shape == (1, 1)
    with pytest.raises(NeuropeftError, match="3 weights for 2 updates"):
        aggregate(updates, np.array([0.2, 0.3, 0.5]))


def test_unknown_strategy_names_the_allowed_ones() -> None:
    with pytest.raises(NeuropeftError, match=r"'FedAvg' is not one of .*'fedce'.*did you mean 'fedavg'"):
        client_weights("FedAvg", ROUND_1, ZERO, None, StrategyState(), 1)


@pytest.mark.parametrize("strategy", sorted(CROSS_EVALUATED))
def test_cross_evaluated_strategies_need_cross_scores(strategy: str) -> None:
    with pytest.raises(NeuropeftError, match="cross scores"):
        client_weights(strategy, ROUND_1, ZERO, None, StrategyState(), 1)
    with pytest.raises(NeuropeftError, match="shapes"):
        client_weights(strategy, ROUND_1, ZERO, cross_of(k=2), StrategyState(), 1)


def test_updates_without_training_subjects_are_refused() -> None:
    with pytest.raises(NeuropeftError, match=r"\['b'\] trained on no subjects"):
        client_weights(
            "fedavg", updates_of({"a": [1, 0, 0], "b": [0, 1, 0]}, n_train=[5, 0]), ZERO, None, StrategyState(), 1
        )


def test_state_json_round_trip_continues_the_federation() -> None:
    state = StrategyState()
    client_weights("fedce", ROUND_1, ZERO, cross_of(LOSS_1), state, 1)
    restored = StrategyState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    resumed = client_weights("fedce", ROUND_2, GLOBAL_2, cross_of(LOSS_2), restored, 2)
    assert resumed == pytest.approx([0.306981, 0.274562, 0.418457], abs=1e-6)
    assert StrategyState.from_json({}) == StrategyState()
