"""The Cox partial-likelihood loss against hand-worked values."""

from __future__ import annotations

import math

import torch

from neuropeft.learn.survival import cox_loss


def test_cox_loss_equal_risks() -> None:
    # three events at 1, 2, 3 with equal risk: risk sets of 3, 2 and 1 subjects -> (log 3 + log 2 + 0) / 3
    loss = cox_loss(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 1.0, 1.0]))
    assert math.isclose(loss.item(), (math.log(3) + math.log(2)) / 3, rel_tol=1e-6)


def test_cox_loss_with_censoring_and_a_tie() -> None:
    # risks r = (1, 0, 2, 0.5) at times (2, 1, 2, 3), events (1, 0, 1, 0).
    # Subject 0 (t=2): risk set {0, 2, 3} (t >= 2) -> 1 - log(e^1 + e^2 + e^0.5)
    # Subject 2 (t=2, tied): the same set -> 2 - log(e^1 + e^2 + e^0.5); censored subjects add no term.
    risk = torch.tensor([1.0, 0.0, 2.0, 0.5], requires_grad=True)
    loss = cox_loss(risk, torch.tensor([2.0, 1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    log_set = math.log(math.e + math.e**2 + math.exp(0.5))
    assert math.isclose(loss.item(), -((1 - log_set) + (2 - log_set)) / 2, rel_tol=1e-6)
    loss.backward()
    assert risk.grad is not None and risk.grad[1].item() == 0.0  # censored before every event: in no risk set


def test_ordering_risks_by_time_lowers_the_loss() -> None:
    times, events = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.ones(4)
    right = cox_loss(torch.tensor([3.0, 2.0, 1.0, 0.0]), times, events)
    wrong = cox_loss(torch.tensor([0.0, 1.0, 2.0, 3.0]), times, events)
    assert right < wrong


def test_a_batch_without_events_gives_zero_with_a_gradient() -> None:
    risk = torch.tensor([0.3, -1.0], requires_grad=True)
    loss = cox_loss(risk, torch.tensor([1.0, 2.0]), torch.zeros(2))
    assert loss.item() == 0.0
    loss.backward()
    assert risk.grad is not None
