"""Flower's Deployment Engine on 127.0.0.1: a real SuperLink and one SuperNode per site, each its own
process reading its site's data, give the simulation's result for the same seed; a site that vanishes
mid-federation is recorded as missing while the others go on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from tests.federated.federated_synthetic import EXPERIMENT, make_sites
from tests.federated.test_simulation import _federate, _finish

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SITES = ("site0", "site1", "site2")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """``command`` in its own process group, with Flower's state (runtime environments) under the test's folder."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "FLWR_HOME": str(log.parent / "flwr-home")}
    return subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)  # noqa: SIM115


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def federation(root: Path, array: Path, index: Path, folds: Path) -> Iterator[tuple[str, dict[str, subprocess.Popen]]]:
    """A SuperLink (insecure, 127.0.0.1) and one SuperNode per site; its address and the SuperNodes."""
    port = _free_port()
    link = _start([str(BIN / "flower-superlink"), "--insecure", "--port", str(port)], root / "superlink.log")
    nodes = {}
    try:
        time.sleep(3)
        for site in SITES:
            config = f'site="{site}" array="{array}" index="{index}" folds="{folds}" device="cpu"'
            command = [str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}"]
            command += ["--port", str(_free_port()), "--node-config", config]
            nodes[site] = _start(command, root / f"supernode-{site}.log")
        yield f"127.0.0.1:{port}", nodes
    finally:
        for process in [*nodes.values(), link]:
            _stop(process)


def _deploy(superlink: str, out: Path, experiment: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "neuropeft", "federate", "--superlink", superlink, "--fold", "0"]
    command += ["--out-dir", str(out), "--device", "cpu", "--settings", json.dumps(experiment)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_superlink_and_supernodes_give_the_simulations_result(tmp_path: Path) -> None:
    array, index, folds = make_sites(tmp_path)
    simulated, deployed = tmp_path / "simulated", tmp_path / "deployed"
    _finish(_federate(array, index, folds, simulated, EXPERIMENT), simulated)
    with federation(tmp_path, array, index, folds) as (superlink, _):
        result = _deploy(superlink, deployed, EXPERIMENT)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = load_file(str(simulated / "weights.safetensors")), load_file(str(deployed / "weights.safetensors"))
    assert first.keys() == second.keys()
    # the same seed, data and summation order; a simulated site trains on one thread (Ray gives it one
    # core), a SuperNode on all, so float sums inside the convolutions run in another order: ~1e-6 apart
    for key in first:
        np.testing.assert_allclose(first[key], second[key], rtol=1e-4, atol=1e-5)
    a, b = (pd.read_csv(d / "predictions.tsv", sep="\t", dtype=str) for d in (simulated, deployed))
    pd.testing.assert_frame_equal(a[["participant_id", "site", "y_pred"]], b[["participant_id", "site", "y_pred"]])
    assert json.loads((deployed / "run.json").read_text())["bytes_total"] > 0


def test_a_site_that_vanishes_is_recorded_missing_and_the_others_go_on(tmp_path: Path) -> None:
    array, index, folds = make_sites(tmp_path)
    out = tmp_path / "deployed"
    federated = {**EXPERIMENT["federated"], "rounds": 2, "min_clients": 2, "round_timeout_s": 60}
    with federation(tmp_path, array, index, folds) as (superlink, nodes):
        command = [sys.executable, "-m", "neuropeft", "federate", "--superlink", superlink, "--fold", "0"]
        command += ["--out-dir", str(out), "--device", "cpu", "--settings"]
        command += [json.dumps({**EXPERIMENT, "federated": federated})]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))  # noqa: SIM115
        deadline = time.time() + 300
        while not (out / "federation_progress.json").exists():
            assert server.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.2)
        _stop(nodes["site2"])
        assert server.wait(timeout=600) == 0, (tmp_path / "server.log").read_text()[-3000:]
    rounds = pd.read_csv(out / "rounds.tsv", sep="\t", keep_default_na=False)
    assert rounds["missing"].iloc[-1] == "site2" and rounds["clients"].iloc[-1] == "site0,site1"
    assert set(pd.read_csv(out / "predictions.tsv", sep="\t")["site"]) == {"site0", "site1"}
