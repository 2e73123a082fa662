"""The Cox partial-likelihood loss of ``task: survival`` (outcomes: :mod:`neuropeft.outcomes`)."""

from __future__ import annotations

import torch


def cox_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow's handling of ties), averaged over events.

    ``risk`` is the model's log hazard ratio per subject. Each event contributes
    ``risk_i - log(sum over the risk set {j: time_j >= time_i} of exp(risk_j))``. A batch without
    events carries no information about the ordering: its loss is 0 (still connected to ``risk``).
    """
    risk = risk.reshape(-1).float()
    at_risk = time.reshape(1, -1) >= time.reshape(-1, 1)  # row i: the subjects still at risk at time_i
    log_risk_set = torch.logsumexp(risk.reshape(1, -1).masked_fill(~at_risk, float("-inf")), dim=1)
    observed = event.reshape(-1).float()
    if observed.sum() == 0:
        return risk.sum() * 0.0
    return -((risk - log_risk_set) * observed).sum() / observed.sum()
