"""A federation on Flower's Deployment Engine: the coordinator's SuperLink and one SuperNode per site.

The coordinator runs ``flower-superlink`` and, for each experiment and fold, ``neuropeft federate
--superlink HOST:PORT``, which writes the job file and submits the Flower App of ``flower_app/`` with
``flwr run``; the ServerApp then runs beside the SuperLink and writes the fold's outputs. Each site runs
``flower-supernode --superlink HOST:PORT --node-config 'site="NAME" array="…" index="…" folds="…"'``
on its own model input (the same workflow run at the site).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from neuropeft.atomic import write_json
from neuropeft.errors import NeuropeftError
from neuropeft.federated.job import FederationJob

#: the Flower App submitted to the SuperLink
APP_DIR = Path(__file__).parent / "flower_app"
#: the job file the ServerApp reads, in the fold's output folder
JOB_FILE = "federation_job.json"


def flower_config(superlink: str, root_certificates: str = "") -> str:
    """``flwr``'s config.toml naming one SuperLink: TLS with ``root_certificates``, else insecure."""
    tls = f'root-certificates = "{root_certificates}"' if root_certificates else "insecure = true"
    return f'[superlink]\ndefault = "neuropeft"\n\n[superlink.neuropeft]\naddress = "{superlink}"\n{tls}\n'


def deploy(job: FederationJob, out_dir: Path, superlink: str, root_certificates: str = "") -> None:
    """Submit ``job`` to the SuperLink at ``superlink`` and wait for the federation to end."""
    out_dir.mkdir(parents=True, exist_ok=True)
    job_file = out_dir / JOB_FILE
    write_json(job_file, {"job": job.to_json(), "out_dir": str(out_dir.resolve())})
    with tempfile.TemporaryDirectory(prefix="flwr-home-") as home:
        (Path(home) / "config.toml").write_text(flower_config(superlink, root_certificates))
        env = {**os.environ, "FLWR_HOME": home, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        command = [str(Path(sys.executable).parent / "flwr"), "run", str(APP_DIR), "neuropeft"]
        command += ["--run-config", f"job-file='{job_file.resolve()}'", "--stream"]
        result = subprocess.run(command, env=env, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0 or not (out_dir / "predictions.tsv").exists():
        raise NeuropeftError(
            f"the federation at {superlink} ended without writing {out_dir / 'predictions.tsv'} "
            f"(flwr run exit status {result.returncode}); see this log and the SuperLink's"
        )
    job_file.unlink()
