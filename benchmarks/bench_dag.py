"""Time parsing + DAG building of the workflow for a 1,000-subject demo cohort with every output present.

The demo rule's outputs are created as empty files, then ``snakemake --touch`` marks every later
output up to date in DAG order (recording its metadata), so the timed dry run has nothing to do.
Goal: the dry run (what every status check and every cluster job pays for parsing) within 10 s.

    .venv/bin/python benchmarks/bench_dag.py [--subjects 1000] [--modalities dwi t1w] [--repeats 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from neuropeft.workflow import demo_files

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, str]:
    """Run snakemake on ``workdir`` with the default config plus ``config``; seconds and output."""
    start = time.perf_counter()
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(config), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def prepare(workdir: Path, n_subjects: int, modalities: list[str]) -> tuple[Path, float]:
    """Write the config override, the demo cohort as empty files, and touch every output."""
    override = workdir / "bench.yaml"
    override.write_text(yaml.safe_dump({"demo": {"n_subjects": n_subjects}, "modalities": modalities}))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["demo"]["n_subjects"] = n_subjects
    for name in demo_files(config):
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    seconds, _ = snakemake(workdir, override, "--touch", "--cores", "1", "--quiet", "all")
    return override, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--modalities", nargs="+", default=["dwi"], choices=["dwi", "t1w"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="kept afterwards; default: a temporary directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_dag_") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        override, touch_seconds = prepare(workdir, args.subjects, args.modalities)
        print(f"{args.subjects} subjects, modalities {' '.join(args.modalities)}: --touch took {touch_seconds:.1f} s")
        _, plan = snakemake(workdir, override, "-n", "--forceall", "--quiet", "rules")
        jobs = int(re.search(r"^total\s+(\d+)$", plan, re.M).group(1))
        print(f"DAG: {jobs} jobs")
        times = []
        for _ in range(args.repeats):
            seconds, output = snakemake(workdir, override, "-n")
            if "Nothing to be done" not in output:
                sys.exit(f"expected nothing to do after --touch, got:\n{output[-3000:]}")
            times.append(seconds)
        print(f"dry run, nothing to do: median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
