"""A federated experiment's settings are refused by name before any site starts."""

from __future__ import annotations

import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.federated.settings import FederatedSettings


def test_defaults_and_bad_values_are_named() -> None:
    assert FederatedSettings.from_experiment({}, "fed").strategy == "fedavg"
    with pytest.raises(NeuropeftError, match="did you mean 'fedavg'"):
        FederatedSettings.from_experiment({"strategy": "FedAvg"}, "fed")
    with pytest.raises(NeuropeftError, match="unknown federated setting"):
        FederatedSettings.from_experiment({"round": 3}, "fed")
    with pytest.raises(NeuropeftError, match="fraction_fit"):
        FederatedSettings.from_experiment({"fraction_fit": 0}, "fed")
