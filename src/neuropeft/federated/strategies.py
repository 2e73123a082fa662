"""How much each site's update counts in a round's aggregate: the client-weighting rules compared by
Mouheb et al., "Federated Fine-tuning of SAM-Med3D for MRI-based Dementia Classification" (SimpleAvg,
FedAvg, FedCE, Rate-My-LoRA). Pure numpy; the server (``server.py``) collects the updates, asks the
sites for :class:`CrossScores` when the strategy is in :data:`CROSS_EVALUATED`, calls
:func:`client_weights` and then :func:`aggregate`.

``simple_avg``
    1/K for each of the K updates.
``fedavg``
    n_k / sum(n), n_k the training subjects of update k (McMahan et al., AISTATS 2017).
``fedce``
    Jiang et al., "Fair Federated Medical Image Segmentation via Client Contribution Estimation",
    CVPR 2023 (arXiv:2303.16520), following its reference code in NVIDIA NVFlare:
    ``research/fed-ce/jobs/fedce_prostate/app/custom/aggregators/fedce_assembler.py`` (server),
    ``.../learners/supervised_monai_prostate_fedce_learner.py`` (client) and the later library version
    ``nvflare/app_opt/pt/fedce.py`` (``FedCEModelAggregator``, ``PTFedCEHelper``). With p the previous
    round's weights of the clients present (renormalised over them) and delta_k = arrays_k - global:

    * gradient space: cos_k = cos(delta_k, sum_j p_j delta_j - p_k delta_k), the update against the
      consensus of the others; g_k = 1 - (mean of cos_k over the rounds client k took part in);
    * data space: e_k = the validation loss, on client k's data, of the others' model (the "minus
      model" (global - p_k local_k) / (1 - p_k) of the reference); d_k = mean of e_k over its rounds;
    * weights = normalise(normalise(g) + normalise(d)), the code's default ``fedce_mode="plus"``,
      each normalise flooring values at 1e-6 then dividing by their sum (``nvflare/app_opt/pt/fedce.py``).

    The running means (the reference's ``np.mean`` over rounds) and the weights are kept in
    :class:`StrategyState`; that history is what makes FedCE's weights stable from round to round.
``rate_my_lora``
    He et al., "Rate-My-LoRA: Efficient and Adaptive Federated Model Tuning for Cardiac MRI
    Segmentation", ISBI 2025 (arXiv:2501.03223). Its update rule W_t = W_{t-1} + sum_c w_t(c) |D^c|
    B^c A^c / sum_c |D^c| (as quoted at https://www.sciencestack.ai/paper/2501.03223) scales each
    client's data size by a rating w_t(c) from validation accuracy; its method section and code could
    not be read, so the rating is ours: s_k = the metric of update k on all sites' validation data
    (site means weighted by n_val), w_k = s_k - min(s), weights proportional to w_k n_train_k. The
    worst-rated update of a round gets weight 0, and nothing is carried over between rounds, hence the
    round-to-round swings and negligible weights the seed paper reports for Rate-My-LoRA.

Where the sources left a choice (each is marked "choice:" in the code):

* FedCE's data space: the reference validates the actual minus model at each client before the next
  round's training (so the score lags one round, and round 0 enters its mean as a placeholder metric
  of 0); here the cross scores of this round's updates stand in for it, the minus model's loss
  approximated by the p-weighted mean of the other updates' losses on client k's data. The loss, not
  the metric, is the "prediction error" of the paper (the reference's 1 - Dice mirrors its Dice
  training loss).
* FedCE's running means are over the rounds each client took part in (the reference averages over
  rounds 0..t, assuming every client in every round); absent clients' entries are left as they are
  (the library version drops them). A client new to the federation enters the prior p with 1/K, as
  every client does in the first round (the library version gives it 1 before renormalising).
* No clipping of negative similarities: 1 - cos lies in [0, 2], so an update opposing the others
  scores highest in gradient space, as in the reference.
* A lone update gets weight 1; FedCE's state is then left as it is (no others to compare it with).
* Metric or loss entries that are not finite (an AUC on single-class validation data) are left out of
  the means over sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError

STRATEGIES: dict[str, str] = {
    "simple_avg": "unweighted mean of the updates (SimpleAvg, as in Mouheb et al.'s federated SAM-Med3D)",
    "fedavg": "mean weighted by training subjects (FedAvg, McMahan et al., AISTATS 2017)",
    "fedce": "gradient- and data-space contribution, averaged over rounds (FedCE, Jiang et al., CVPR 2023)",
    "rate_my_lora": "training subjects times a per-round validation rating (Rate-My-LoRA, He et al., ISBI 2025)",
}
CROSS_EVALUATED: frozenset[str] = frozenset({"fedce", "rate_my_lora"})

#: floor of a score before normalising (``FedCEModelAggregator``'s epsilon in ``nvflare/app_opt/pt/fedce.py``)
EPSILON = 1e-6


@dataclass
class ClientUpdate:
    """One site's update in a round."""

    client: str  # site name
    arrays: dict[str, np.ndarray]  # the client's trainable parameters after its local epochs (float32)
    n_train: int  # training samples it used


@dataclass
class CrossScores:
    """Every client's update scored on every client's validation data; row i = validation data of
    client i, column j = the update of client j (same client order as the updates list)."""

    loss: np.ndarray  # (K, K) mean validation loss
    metric: np.ndarray  # (K, K) validation metric, higher is better (AUC; negative MAE for regression)
    n_val: np.ndarray  # (K,) validation subjects per client


@dataclass
class StrategyState:
    """What a strategy carries from round to round (FedCE's running weights); JSON-serialisable
    (plain dicts of numbers) so a resumed federation continues it. Only FedCE uses it."""

    weights: dict[str, float] = field(default_factory=dict)  # last round's weights by client name
    similarity: dict[str, float] = field(default_factory=dict)  # mean cosine to the others over its rounds
    error: dict[str, float] = field(default_factory=dict)  # mean loss of the others' model on its data
    rounds: dict[str, int] = field(default_factory=dict)  # rounds in those means

    def to_json(self) -> dict:
        """The state as plain dicts."""
        return {
            "weights": dict(self.weights),
            "similarity": dict(self.similarity),
            "error": dict(self.error),
            "rounds": dict(self.rounds),
        }

    @classmethod
    def from_json(cls, d: dict) -> StrategyState:
        """The state :meth:`to_json` wrote (missing entries empty)."""
        return cls(
            weights={k: float(v) for k, v in d.get("weights", {}).items()},
            similarity={k: float(v) for k, v in d.get("similarity", {}).items()},
            error={k: float(v) for k, v in d.get("error", {}).items()},
            rounds={k: int(v) for k, v in d.get("rounds", {}).items()},
        )


def client_weights(
    strategy: str,
    updates: list[ClientUpdate],
    global_arrays: dict[str, np.ndarray],
    cross: CrossScores | None,
    state: StrategyState,
    server_round: int,
) -> np.ndarray:
    """One weight per update (non-negative, summing to 1); updates ``state`` in place.

    ``server_round`` is part of the interface but no rule needs it: FedCE counts each client's own
    rounds in ``state`` instead. Raises NeuropeftError for an unknown strategy, no updates, an update
    without training subjects, or a cross-evaluated strategy called without cross scores (or with
    scores of another shape).
    """
    look_up_option(strategy, STRATEGIES, "federated strategy")
    if not updates:
        raise NeuropeftError(f"round {server_round}: no updates to weight")
    empty = [u.client for u in updates if u.n_train < 1]
    if empty:
        raise NeuropeftError(f"round {server_round}: site(s) {empty} trained on no subjects; check their folds")
    if strategy in CROSS_EVALUATED:
        if cross is None:
            raise NeuropeftError(
                f"federated strategy {strategy!r} needs every update scored on every site's validation data "
                "(cross scores), none were given"
            )
        _check_cross(cross, len(updates))
    if len(updates) == 1:  # choice: a lone update is the aggregate, and FedCE's state stays as it is
        return np.ones(1)
    n_train = np.array([u.n_train for u in updates], dtype=float)
    if strategy == "simple_avg":
        return np.full(len(updates), 1.0 / len(updates))
    if strategy == "fedavg":
        return n_train / n_train.sum()
    assert cross is not None
    if strategy == "fedce":
        return _fedce(updates, global_arrays, cross, state)
    return _rate_my_lora(n_train, cross, updates)


def aggregate(updates: list[ClientUpdate], weights: np.ndarray) -> dict[str, np.ndarray]:
    """The weighted mean of the updates' arrays (float32), key by key."""
    if len(weights) != len(updates):
        raise NeuropeftError(f"{len(weights)} weights for {len(updates)} updates")
    w = np.asarray(weights, dtype=np.float64)
    mean = {}
    for key in updates[0].arrays:
        stacked = np.stack([u.arrays[key] for u in updates]).astype(np.float64)
        mean[key] = np.tensordot(w, stacked, axes=1).astype(np.float32)
    return mean


def _check_cross(cross: CrossScores, k: int) -> None:
    """Refuse cross scores that are not (K, K), (K, K) and (K,) for K updates."""
    got = (np.shape(cross.loss), np.shape(cross.metric), np.shape(cross.n_val))
    if got != ((k, k), (k, k), (k,)):
        raise NeuropeftError(f"cross scores of shapes {got} for {k} updates; expected ({k}, {k}), ({k}, {k}), ({k},)")


def _normalise(values: np.ndarray) -> np.ndarray:
    """``values`` floored at :data:`EPSILON` and divided by their sum (NVFlare's FedCE ``_normalize``)."""
    floored = np.maximum(values, EPSILON)
    return floored / floored.sum()


def _weighted_mean(values: np.ndarray, weights: np.ndarray, what: str) -> float:
    """Mean of the finite ``values`` weighted by ``weights`` (choice: a site's non-finite score, e.g. an AUC
    on single-class data, is left out); refuses when none is finite."""
    finite = np.isfinite(values) & (weights > 0)
    if not finite.any():
        raise NeuropeftError(f"{what}: no finite validation score to rate it by")
    return float(np.sum(values[finite] * weights[finite]) / np.sum(weights[finite]))


def _flat_delta(update: ClientUpdate, global_arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The update minus the global parameters, all keys in one float64 vector (in sorted key order)."""
    return np.concatenate(
        [
            (update.arrays[k].astype(np.float64) - global_arrays[k].astype(np.float64)).ravel()
            for k in sorted(global_arrays)
        ]
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either vector is zero (as ``FedCEModelAggregator``)."""
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norms) if norms > 0 else 0.0


def _fedce(
    updates: list[ClientUpdate], global_arrays: dict[str, np.ndarray], cross: CrossScores, state: StrategyState
) -> np.ndarray:
    """FedCE's weights (module docstring); the running means and weights of the clients present are
    updated in ``state``, those of absent clients left as they are."""
    names = [u.client for u in updates]
    k = len(updates)
    # choice: a client new to the federation enters the prior with 1/K, as all do in the first round
    prior = _normalise(np.array([state.weights.get(name, 1.0 / k) for name in names]))
    deltas = np.stack([_flat_delta(u, global_arrays) for u in updates])
    consensus = prior @ deltas
    others = [np.arange(k) != i for i in range(k)]
    cosines = [_cosine(deltas[i], consensus - prior[i] * deltas[i]) for i in range(k)]
    # choice: the minus model's loss on client i's data ~ the prior-weighted loss of the others' updates
    errors = [
        _weighted_mean(cross.loss[i, o], prior[o], f"site {names[i]}'s validation data") for i, o in enumerate(others)
    ]
    # choice: running means over the rounds each client took part in (the reference: rounds 0..t)
    for name, cos, error in zip(names, cosines, errors, strict=True):
        seen = state.rounds.get(name, 0)
        state.similarity[name] = (state.similarity.get(name, 0.0) * seen + cos) / (seen + 1)
        state.error[name] = (state.error.get(name, 0.0) * seen + error) / (seen + 1)
        state.rounds[name] = seen + 1
    gradient = np.array([1.0 - state.similarity[name] for name in names])  # choice: no clipping, 1 - cos is in [0, 2]
    data = np.array([state.error[name] for name in names])
    weights = _normalise(_normalise(gradient) + _normalise(data))  # fedce_mode "plus"
    state.weights.update(zip(names, weights.tolist(), strict=True))
    return weights


def _rate_my_lora(n_train: np.ndarray, cross: CrossScores, updates: list[ClientUpdate]) -> np.ndarray:
    """Rate-My-LoRA's weights (our rating, module docstring): n_train times the update's metric over all
    sites' validation data above the round's worst; no state."""
    n_val = np.asarray(cross.n_val, dtype=float)
    scores = np.array(
        [_weighted_mean(cross.metric[:, j], n_val, f"site {u.client}'s update") for j, u in enumerate(updates)]
    )
    rating = scores - scores.min()
    if not rating.any():  # every update rated alike: data size alone, as the update rule with equal ratings
        rating = np.ones_like(rating)
    weighted = rating * n_train
    return weighted / weighted.sum()
