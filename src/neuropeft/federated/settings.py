"""Settings of a federated experiment (an experiment's ``federated:`` entry in the config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.federated.strategies import STRATEGIES


@dataclass
class FederatedSettings:
    """How the sites train together; every field has the config default."""

    strategy: str = "fedavg"  # simple_avg, fedavg, fedce or rate_my_lora (federated/strategies.py)
    rounds: int = 10  # federated rounds (each: local training at the sites, then aggregation)
    local_epochs: int = 1  # epochs each site trains on its own subjects per round
    fraction_fit: float = 1.0  # share of the connected sites asked to train each round
    min_clients: int = 2  # fewest sites that must answer a round; fewer stops the federation
    round_timeout_s: float = 3600.0  # seconds to wait for the sites' replies in a round; a site later is missing

    @classmethod
    def from_experiment(cls, federated: dict[str, Any], experiment: str) -> FederatedSettings:
        """The settings of an experiment's ``federated`` entry, refusing unknown keys and bad values by name."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(federated) - known)
        if unknown:
            raise NeuropeftError(
                f"experiment {experiment!r}: unknown federated setting(s) {unknown}; allowed {sorted(known)}"
            )
        settings = cls(**federated)
        look_up_option(settings.strategy, STRATEGIES, f"experiment {experiment!r}: federated strategy")
        if settings.rounds < 1 or settings.local_epochs < 1 or settings.min_clients < 1:
            raise NeuropeftError(
                f"experiment {experiment!r}: federated rounds, local_epochs and min_clients must be >= 1"
            )
        if not 0 < settings.fraction_fit <= 1:
            raise NeuropeftError(f"experiment {experiment!r}: federated fraction_fit must be in (0, 1]")
        return settings
