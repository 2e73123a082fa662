"""A federation's description, sent by the server to every site with each message (one JSON text)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuropeft.errors import NeuropeftError
from neuropeft.federated.settings import FederatedSettings
from neuropeft.federated.site import SiteJob
from neuropeft.learn.experiment import ExperimentSettings


@dataclass
class FederationJob:
    """One federated experiment on one fold.

    In a simulation every site reads the same cohort stack (``array``, ``index``, ``folds``) and keeps
    its own subjects (``sites[partition-id]``); in a deployment each SuperNode names its site and its
    own files in its node config (keys ``site``, ``array``, ``index``, ``folds`` and, optionally,
    ``init``), which take precedence.
    """

    experiment: dict[str, Any]  # ExperimentSettings fields
    fold: int
    sites: list[str] = field(default_factory=list)  # simulation: partition-id -> site
    array: str = ""
    index: str = ""
    folds: str = ""
    init: str = "random"
    device: str = "auto"

    @property
    def settings(self) -> ExperimentSettings:
        """The experiment's settings."""
        return ExperimentSettings(**self.experiment)

    @property
    def federated(self) -> FederatedSettings:
        """Its federated settings."""
        return FederatedSettings.from_experiment(self.experiment.get("federated", {}), self.experiment["name"])

    def to_json(self) -> str:
        """The job as one JSON text (it travels in a ConfigRecord)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FederationJob:
        """The job :meth:`to_json` wrote."""
        return cls(**json.loads(text))

    def site_job(self, node_config: dict[str, Any]) -> SiteJob:
        """What the site of ``node_config`` trains: a deployment's own files, else its simulated partition."""
        if "site" in node_config:
            missing = [k for k in ("array", "index", "folds") if k not in node_config]
            if missing:
                raise NeuropeftError(f"SuperNode of site {node_config['site']}: node config lacks {missing}")
            site, files = str(node_config["site"]), node_config
        else:
            partition = int(node_config.get("partition-id", -1))
            if not 0 <= partition < len(self.sites):
                raise NeuropeftError(f"simulated node {partition} has no site (sites: {self.sites})")
            site, files = self.sites[partition], dataclasses.asdict(self)
        federated = self.federated
        return SiteJob(
            site=site,
            array=Path(str(files["array"])),
            index=Path(str(files["index"])),
            folds=Path(str(files["folds"])),
            fold=self.fold,
            settings=self.settings,
            rounds=federated.rounds,
            local_epochs=federated.local_epochs,
            init=str(node_config.get("init", self.init)),
            device=str(node_config.get("device", self.device)),
        )
