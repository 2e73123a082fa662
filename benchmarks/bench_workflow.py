"""Workflow overhead: wall time of a whole run against the sum of its jobs' own times.

Runs the workflow (by default the tiny demo, ``--cores 1`` so jobs do not overlap) in a scratch
directory, reads every job's ``benchmark:`` file (each rule writes one under
``results/benchmarks/``), and prints the per-rule job times and the ratio
``wall time / sum of job times`` (goal <= 1.15; Snakemake's parsing, DAG building, scheduling and
metadata make up the difference). ``--workdir`` reuses a directory (e.g. to measure the default
demo: ``--configfile config/config.yaml --cores 2``; with more than one core the ratio compares
the wall time with the summed job time divided by the cores). Each job's time is weighted by the
threads it held (read from Snakemake's log, kept as ``snakemake.log`` in the work folder), so a
2-thread training job on 2 cores counts as filling both.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def job_threads(log: str) -> dict[str, int]:
    """Benchmark file -> threads of its job, from Snakemake's job listings (``threads:`` is printed when > 1)."""
    threads = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        benchmark = re.search(r"^\s+benchmark: (\S+)$", block, re.M)
        if benchmark:
            count = re.search(r"^\s+threads: (\d+)$", block, re.M)
            threads[benchmark.group(1)] = int(count.group(1)) if count else 1
    return threads


def job_times(workdir: Path, threads: dict[str, int]) -> pd.DataFrame:
    """One row per job: rule, its own wall seconds (from the benchmark files) and the threads it held."""
    rows = []
    for path in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        relative = path.relative_to(workdir)
        rule = relative.parts[2].removesuffix(".tsv")
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        rows.append({"rule": rule, "seconds": seconds, "threads": threads.get(str(relative), 1)})
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
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    jobs = job_times(workdir, job_threads((workdir / "snakemake.log").read_text()))
    jobs["core_seconds"] = jobs["seconds"] * jobs["threads"]
    per_rule = jobs.groupby("rule").agg(
        count=("seconds", "size"), sum=("seconds", "sum"), mean=("seconds", "mean"), threads=("threads", "max")
    )
    print(per_rule.sort_values("sum", ascending=False).round(2).to_string())
    total, core_total = jobs["seconds"].sum(), jobs["core_seconds"].sum()
    print(f"\njobs: {len(jobs)}  wall: {wall:.1f} s  sum of job times: {total:.1f} s  cores: {args.cores}")
    print(f"overhead ratio wall / (sum of job seconds x threads / cores): {wall / (core_total / args.cores):.3f}")


if __name__ == "__main__":
    main()
