"""The coordinator's Flower ServerApp for the Deployment Engine: it reads the federation's job file
(run config ``job-file``, written by ``neuropeft federate --superlink``) and serves the federation."""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from neuropeft.federated.job import FederationJob
from neuropeft.federated.server import serve

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Serve the job of the run config's ``job-file``."""
    spec = json.loads(Path(str(context.run_config["job-file"])).read_text())
    serve(grid, FederationJob.from_json(spec["job"]), Path(spec["out_dir"]))
