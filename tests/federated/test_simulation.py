"""A federation on Flower's Simulation Engine, run as the workflow runs it (`neuropeft federate`): three
sites learn a planted effect better than chance, and a federation killed with SIGKILL resumes from its
last completed round to the uninterrupted run's result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file
from sklearn.metrics import roc_auc_score

from neuropeft.federated.server import PROGRESS
from tests.federated.federated_synthetic import EXPERIMENT, make_sites

pytestmark = pytest.mark.slow


def _federate(array: Path, index: Path, folds: Path, out: Path, experiment: dict) -> subprocess.Popen:
    """`neuropeft federate` on fold 0 in its own process group (Ray's workers go with it)."""
    command = [sys.executable, "-m", "neuropeft", "federate", "--array", str(array), "--index", str(index)]
    command += ["--folds", str(folds), "--fold", "0", "--out-dir", str(out), "--device", "cpu", "--cpus", "2"]
    command += ["--settings", json.dumps(experiment)]
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _finish(process: subprocess.Popen, out: Path) -> None:
    assert process.wait(timeout=600) == 0, (out.parent / f"{out.name}.log").read_text()[-3000:]


def test_three_sites_learn_the_planted_effect_and_record_each_round(tmp_path: Path) -> None:
    array, index, folds = make_sites(tmp_path)
    out = tmp_path / "fed"
    _finish(_federate(array, index, folds, out, EXPERIMENT), out)
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t", dtype={"site": str})
    assert set(predictions["site"]) == {"site0", "site1", "site2"}
    assert roc_auc_score(predictions["y_true"], predictions["prob_1"]) > 0.7
    rounds = pd.read_csv(out / "rounds.tsv", sep="\t", keep_default_na=False)
    run = json.loads((out / "run.json").read_text())
    # LoRA: only adapters + head travel, 4 bytes a parameter, to and from each of 3 sites
    assert rounds["bytes"].min() > 2 * 3 * 4 * run["trainable_params"]
    assert run["bytes_total"] == rounds["bytes"].sum() and run["trainable_params"] < run["total_params"] / 10
    # called at the threshold fitted on every site's validation subjects together
    assert 0 < run["threshold"] < 1
    assert (predictions["y_pred"] == (predictions["prob_1"] >= run["threshold"]).astype(int)).all()
    weights = pd.read_csv(out / "client_weights.tsv", sep="\t")
    assert weights.groupby("round")["weight"].sum().round(6).eq(1).all() and len(weights) == 9


def test_a_killed_federation_resumes_from_its_last_round_to_the_same_result(tmp_path: Path) -> None:
    array, index, folds = make_sites(tmp_path)
    experiment = {**EXPERIMENT, "federated": {**EXPERIMENT["federated"], "rounds": 4}}
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _finish(_federate(array, index, folds, whole, experiment), whole)
    process = _federate(array, index, folds, resumed, experiment)
    deadline = time.time() + 300
    while not (resumed / PROGRESS).exists() or json.loads((resumed / PROGRESS).read_text())["round"] < 2:
        assert process.poll() is None and time.time() < deadline, "the federation ended before round 2"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (resumed / "predictions.tsv").exists()
    _finish(_federate(array, index, folds, resumed, experiment), resumed)
    assert "resuming after round" in (tmp_path / "resumed.log").read_text()
    first, second = load_file(str(whole / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_allclose(first[key], second[key], rtol=1e-5, atol=1e-6)
    assert len(pd.read_csv(resumed / "rounds.tsv", sep="\t")) == 4
    assert not (resumed / PROGRESS).exists()


def test_fedce_has_every_site_score_every_update_and_weights_them(tmp_path: Path) -> None:
    array, index, folds = make_sites(tmp_path)
    out = tmp_path / "fedce"
    experiment = {**EXPERIMENT, "federated": {**EXPERIMENT["federated"], "strategy": "fedce", "rounds": 2}}
    _finish(_federate(array, index, folds, out, experiment), out)
    rounds = pd.read_csv(out / "rounds.tsv", sep="\t", keep_default_na=False)
    # the global parameters to 3 sites, then all 3 updates to each of the 3 sites: 4x what FedAvg sends
    assert (rounds["bytes_down"] > 3.9 * rounds["bytes_up"]).all()
    weights = pd.read_csv(out / "client_weights.tsv", sep="\t")
    assert weights.groupby("round")["weight"].sum().round(6).eq(1).all()
    n_share = weights["n_train"] / weights.groupby("round")["n_train"].transform("sum")
    assert not np.allclose(weights["weight"], n_share, atol=1e-3)  # not FedAvg's weights
    assert set(pd.read_csv(out / "predictions.tsv", sep="\t")["site"]) == {"site0", "site1", "site2"}
