"""Seconds and bytes per federated round for ``full``, ``linear_probe`` and ``lora`` on one backbone.

A synthetic cohort of three sites (the federated tests' planted effect), site-balanced folds, and
one `neuropeft federate` run (Flower's Simulation Engine, FedAvg) per method on fold 0. Reports,
from each run's rounds.tsv and run.json: trainable parameters, seconds per round (mean of the
rounds after the first, which also builds each site's model), bytes per round and in total, the
run's wall time (Ray's start included), and the ratio of each method's bytes to full fine-tuning's.

    .venv/bin/python benchmarks/bench_federated.py [--backbone resnet10] [--side 32] [--subjects 48] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' synthetic cohort

from tests.federated.federated_synthetic import make_sites  # noqa: E402

METHODS = ("full", "linear_probe", "lora")


def federate(root: Path, method: str, args: argparse.Namespace) -> dict[str, float]:
    """One federation of ``method``; its figures."""
    experiment = {
        "name": f"fed-{method}",
        "backbone": args.backbone,
        "method": method,
        "lr": 1e-4 if method == "full" else 1e-3,
        "batch_size": 4,
        "federated": {"strategy": "fedavg", "rounds": args.rounds, "local_epochs": 1},
    }
    out = root / method
    command = [sys.executable, "-m", "neuropeft", "federate", "--array", str(root / "model_input.npy")]
    command += ["--index", str(root / "model_input.tsv"), "--folds", str(root / "folds.tsv"), "--fold", "0"]
    command += [
        "--out-dir",
        str(out),
        "--device",
        "cpu",
        "--cpus",
        str(args.cpus),
        "--settings",
        json.dumps(experiment),
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{method}: federate failed\n{result.stderr[-3000:]}")
    rounds = pd.read_csv(out / "rounds.tsv", sep="\t")
    run = json.loads((out / "run.json").read_text())
    return {
        "method": method,
        "trainable_params": run["trainable_params"],
        "seconds_per_round": float(rounds["seconds"].iloc[1:].mean()),
        "bytes_per_round": float(rounds["bytes"].mean()),
        "bytes_total": int(rounds["bytes"].sum()),
        "wall_seconds": wall,
    }


def main() -> None:
    """Run the three methods and print one TSV row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet10")
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--subjects", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="sites trained at the same time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_sites(root, n_subjects=args.subjects, side=args.side)
        rows = pd.DataFrame([federate(root, method, args) for method in METHODS])
    full = rows.loc[rows["method"] == "full", "bytes_per_round"].iloc[0]
    rows["bytes_vs_full"] = rows["bytes_per_round"] / full
    print(f"{args.backbone} at {args.side}^3, 3 sites, {args.subjects} subjects, {args.rounds} rounds of FedAvg")
    print(rows.to_csv(sep="\t", index=False, float_format="%.4g"), end="")


if __name__ == "__main__":
    main()
