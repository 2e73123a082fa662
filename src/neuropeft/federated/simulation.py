"""A federation on this machine with Flower's Simulation Engine: one simulated node per site."""

from __future__ import annotations

import os
from pathlib import Path

from neuropeft.errors import NeuropeftError
from neuropeft.federated.job import FederationJob


def simulate(job: FederationJob, out_dir: Path, cpus: int) -> None:
    """Run ``job`` with one simulated SuperNode per site, ``cpus`` of them at a time (each on one core,
    and on the GPU when the job runs on CUDA), the server in this process; raise what the server raised."""
    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp
    from flwr.simulation import run_simulation

    from neuropeft.federated import client_app
    from neuropeft.federated.server import serve

    failures: list[BaseException] = []
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            serve(grid, job, out_dir)
        except BaseException as error:  # re-raised below: Flower only logs what its ServerApp raises
            failures.append(error)

    gpus = 1.0 / max(1, cpus) if job.device != "cpu" and _cuda() else 0.0
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    run_simulation(
        server_app=server,
        client_app=client_app.app,
        num_supernodes=len(job.sites),
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": gpus}, "init_args": {"num_cpus": cpus}},
    )
    if failures:
        raise failures[0]
    if not (out_dir / "predictions.tsv").exists():
        raise NeuropeftError(
            f"the simulated federation ended without writing {out_dir / 'predictions.tsv'}; see its log"
        )


def _cuda() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()
