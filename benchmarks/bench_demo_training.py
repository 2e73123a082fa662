"""Where the demo's training time goes, and how its jobs are best run on a small CPU.

Needs a demo results folder with ``cohort/model_input.{npy,tsv}``, ``folds/folds.tsv`` and the pre-trained
backbone the experiments start from (``snakemake --cores 2 results/folds/folds.tsv
results/pretrain/resnet10-recon/backbone.safetensors``). The experiments are those of config/config.yaml
(``--set key=value`` overrides a setting of every one, e.g. ``--set cache_features=true --set epochs=12``).

``jobs`` mode (default): each (experiment, fold) is one ``python -m neuropeft train`` process with
``OMP_NUM_THREADS=--threads``, ``--jobs`` of them at a time (as ``snakemake --cores jobs×threads`` runs the
train rule with ``threads: --threads``); prints per job its wall and CPU seconds, epochs and best epoch, then
the total. ``--breakdown``: one process per experiment times the parts of a fold instead (imports, model,
feature cache, forward, backward + step, validation, checkpoint writes, outputs).

    .venv/bin/python benchmarks/bench_demo_training.py --results /tmp/demo/results [--folds 0 1 2 3 4]
        [--threads 2] [--jobs 1] [--breakdown] [--set key=value ...] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: the in-process breakdown of one fold (run in a fresh interpreter: argv = results experiment-json out fold)
BREAKDOWN = r"""
import json, sys, time
start = time.perf_counter()
import torch
import neuropeft.learn.data as D
import neuropeft.learn.loop as L
import neuropeft.learn.train as T
from neuropeft.learn.experiment import ExperimentSettings
from pathlib import Path
seconds = {"imports": time.perf_counter() - start}
results, settings, out, fold, init = Path(sys.argv[1]), ExperimentSettings(**json.loads(sys.argv[2])), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def timed(owner, name, key):
    if not hasattr(owner, name):  # an older neuropeft (the benchmark also times the code before a change)
        return
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        tick = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - tick
    setattr(owner, name, wrapper)

timed(T, "make_model", "model")
timed(T, "frozen_features", "feature_cache")
timed(D.VolumeDataset, "__getitem__", "data")
timed(L, "optimiser_step", "backward_step")
timed(L.Checkpoint, "save", "checkpoint")
timed(T, "write_fold_outputs", "outputs")
epochs = T.fold_epochs
def fold_epochs(*args, **kwargs):
    e = epochs(*args, **kwargs)
    loss, validate = e.batch_loss, e.validate
    def batch_loss(batch):
        tick = time.perf_counter(); r = loss(batch); seconds["forward"] = seconds.get("forward", 0.0) + time.perf_counter() - tick; return r
    def validation():
        tick = time.perf_counter(); r = validate(); seconds["validation"] = seconds.get("validation", 0.0) + time.perf_counter() - tick; return r
    e.batch_loss, e.validate = batch_loss, validation
    return e
T.fold_epochs = fold_epochs
tick, cpu = time.perf_counter(), time.process_time()
cohort = results / "cohort"
T.train_fold(cohort / "model_input.npy", cohort / "model_input.tsv", results / "folds" / "folds.tsv", fold, out, settings, torch.device("cpu"), init)
seconds["fold"] = time.perf_counter() - tick
seconds["fold_cpu"] = time.process_time() - cpu
run = json.loads((out / "run.json").read_text())
print("RESULT", json.dumps({"epochs": run["epochs_run"], "best": run["best_epoch"], "cached": run.get("features_cached", False), **seconds}))
"""


def experiments(config: Path, overrides: list[str]) -> list[dict]:
    """The config's experiments with every ``key=value`` override (YAML values)."""
    changes = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in overrides)}
    return [{**entry, **changes} for entry in yaml.safe_load(config.read_text())["experiments"]]


def init_of(entry: dict, results: Path) -> str:
    """The pre-trained backbone an experiment starts from (``pretrain:NAME``), else ""."""
    init = str(entry.get("init", "random"))
    return (
        str(results / "pretrain" / init.split(":", 1)[1] / "backbone.safetensors")
        if init.startswith("pretrain:")
        else ""
    )


def cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = os.times()
    return usage.children_user + usage.children_system


def train_job(entry: dict, fold: int, results: Path, out: Path, threads: int) -> dict:
    """One ``neuropeft train`` process; its wall seconds, epochs and best epoch (CPU: see the caller)."""
    cohort = results / "cohort"
    argv = [sys.executable, "-m", "neuropeft", "train", "--array", str(cohort / "model_input.npy")]
    argv += ["--index", str(cohort / "model_input.tsv"), "--folds", str(results / "folds" / "folds.tsv")]
    argv += ["--fold", str(fold), "--out-dir", str(out), "--device", "cpu", "--settings", json.dumps(entry)]
    init = init_of(entry, results)
    argv += ["--init-checkpoint", init] if init else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    tick = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - tick
    if done.returncode:
        raise SystemExit(f"{entry['name']} fold {fold} failed:\n{done.stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return {
        "experiment": entry["name"],
        "fold": fold,
        "wall": wall,
        "epochs": run["epochs_run"],
        "best": run["best_epoch"],
    }


def run_jobs(entries: list[dict], folds: list[int], results: Path, out: Path, threads: int, jobs: int) -> None:
    """Every (experiment, fold) as a process, ``jobs`` at a time; one TSV row each, then the total."""
    tasks = [(entry, fold) for entry in entries for fold in folds]
    cpu, tick = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(
            pool.map(lambda t: train_job(t[0], t[1], results, out / t[0]["name"] / f"fold-{t[1]}", threads), tasks)
        )
    total, cpu = time.perf_counter() - tick, cpu_seconds() - cpu
    print("experiment\tfold\twall_s\tepochs\tbest_epoch")
    for row in rows:
        print(f"{row['experiment']}\t{row['fold']}\t{row['wall']:.1f}\t{row['epochs']}\t{row['best']}")
    print(f"# {len(rows)} jobs, {jobs} at a time, {threads} thread(s) each: {total:.1f} s wall, {cpu:.1f} s CPU")


def run_breakdown(entries: list[dict], folds: list[int], results: Path, out: Path, threads: int) -> None:
    """The parts of each (experiment, fold), one fresh interpreter each; one TSV row each."""
    keys = ["imports", "model", "feature_cache", "data", "forward", "backward_step", "validation", "checkpoint"]
    keys += ["outputs", "fold", "fold_cpu"]
    print("\t".join(["experiment", "fold", "epochs", "best_epoch", "cached", *keys]))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for entry in entries:
        for fold in folds:
            argv = [sys.executable, "-c", BREAKDOWN, str(results), json.dumps(entry)]
            argv += [str(out / entry["name"] / f"fold-{fold}"), str(fold), init_of(entry, results)]
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{entry['name']} fold {fold} failed:\n{done.stderr[-2000:]}")
            found = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))[7:])
            parts = [f"{found.get(key, 0.0):.2f}" for key in keys]
            print(
                "\t".join(
                    [entry["name"], str(fold), str(found["epochs"]), str(found["best"]), str(found["cached"]), *parts]
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="demo results folder (cohort/, folds/, pretrain/)")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--experiments", nargs="*", default=[], help="names (default: every experiment)")
    parser.add_argument("--folds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads per job (OMP_NUM_THREADS)")
    parser.add_argument("--jobs", type=int, default=1, help="jobs at a time")
    parser.add_argument("--breakdown", action="store_true", help="time the parts of each fold instead")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--out-dir", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = parser.parse_args()
    entries = [e for e in experiments(args.config, args.set) if not args.experiments or e["name"] in args.experiments]
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out_dir or Path(scratch)
        if args.breakdown:
            run_breakdown(entries, args.folds, args.results, out, args.threads)
        else:
            run_jobs(entries, args.folds, args.results, out, args.threads, args.jobs)


if __name__ == "__main__":
    main()
