"""Workflow overhead: wall time of a whole run against the sum of its jobs' own times.

Runs the workflow (by default the tiny demo, ``--cores 1`` so jobs do not overlap) in a scratch
directory, reads every job's ``benchmark:`` file (each rule writes one under
``results/benchmarks/``), and prints the per-rule job times and the ratio
``wall time / sum of job times`` (goal <= 1.15; Snakemake's parsing, DAG building, scheduling and
metadata make up the difference). ``--workdir`` reuses a directory (e.g. to measure the default
demo: ``--configfile config/config.yaml --cores 2``; with more than one core the ratio compares
the wall time with the summed job time divided by the cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def job_times(workdir: Path) -> pd.DataFrame:
    """One row per job: rule and its own wall seconds (from the benchmark files)."""
    rows = []
    for path in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(workdir / "results" / "benchmarks").parts[0].removesuffix(".tsv")
        rows.append({"rule": rule, "seconds": float(pd.read_csv(path, sep="\t")["s"].iloc[-1])})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(ROOT / "config" / "tiny.yaml"))
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="run here (default: a new temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="neuropeft-bench-"))
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(args.cores),
        "--configfile",
        args.configfile,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    jobs = job_times(workdir)
    per_rule = jobs.groupby("rule")["seconds"].agg(["count", "sum", "mean"]).sort_values("sum", ascending=False)
    print(per_rule.round(2).to_string())
    total = jobs["seconds"].sum()
    print(f"\njobs: {len(jobs)}  wall: {wall:.1f} s  sum of job times: {total:.1f} s  cores: {args.cores}")
    print(f"overhead ratio wall / (sum / cores): {wall / (total / args.cores):.3f}")


if __name__ == "__main__":
    main()
