"""Time parsing + DAG building of the workflow for a 1,000-subject demo cohort with every output present.

Every output (as listed by ``snakemake --summary``) is created as an empty file, then
``snakemake --touch --forceall`` visits every job in DAG order (mtimes in order, metadata recorded as a
real run would), so the timed dry run has nothing to do.
Goal: the dry run within 10 s. Also timed: parsing alone (``--list-rules``), which every cluster job
pays again before it runs its own few jobs.

    .venv/bin/python benchmarks/bench_dag.py [--subjects 1000] [--modalities dwi t1w] [--repeats 3] [--workdir DIR [--reuse]]

``--reuse`` skips the preparation of a ``--workdir`` prepared by an earlier call (so the timed part
can be repeated on a quiet machine).
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

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def snakemake(workdir: Path, config: Path, *args: str, prefix: tuple[str, ...] = ()) -> tuple[float, str]:
    """Run snakemake on ``workdir`` with the default config plus ``config``; seconds and output."""
    start = time.perf_counter()
    result = subprocess.run(
        [*(prefix or SNAKEMAKE), "--directory", str(workdir), "--configfile", str(config), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


# `--touch` sleeps 0.1 s per job so that mtimes increase; on a nanosecond-mtime filesystem the job
# order alone does that, and 6,000 sleeps would dominate the preparation.
FAST_TOUCH = (
    sys.executable,
    "-c",
    "import sys; import snakemake.executors.touch as t; t.Executor.SLEEPING_TIME = 0;"
    "from snakemake.cli import main; main(sys.argv[1:])",
    "--snakefile",
    str(ROOT / "Snakefile"),
)


def prepare(workdir: Path, n_subjects: int, modalities: list[str]) -> tuple[Path, float]:
    """Write the config override and every output (demo cohort included) as an empty file, then
    touch them in DAG order.

    ``--touch --forceall`` visits every job in order, updating mtimes and recording each job's
    metadata (params, code, input checksums) as a real run would.
    """
    start = time.perf_counter()
    override = workdir / "bench.yaml"
    override.write_text(yaml.safe_dump({"demo": {"n_subjects": n_subjects}, "modalities": modalities}))
    _, summary = snakemake(workdir, override, "--summary")
    for line in summary.splitlines():
        name = line.split("\t")[0]
        if "\t" in line and name != "output_file":
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    snakemake(workdir, override, "--touch", "--forceall", "--cores", "1", "--quiet", "all", prefix=FAST_TOUCH)
    return override, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--modalities", nargs="+", default=["dwi"], choices=["dwi", "t1w"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="kept afterwards; default: a temporary directory")
    parser.add_argument("--reuse", action="store_true", help="--workdir is already prepared: only time")
    args = parser.parse_args()
    if args.reuse and not (args.workdir and (args.workdir / "bench.yaml").is_file()):
        parser.error("--reuse needs a --workdir prepared by an earlier call")

    with tempfile.TemporaryDirectory(prefix="bench_dag_") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        modalities = " ".join(args.modalities)
        if args.reuse:
            override = workdir / "bench.yaml"
            print(f"reusing {workdir} ({override.read_text().strip()})")
        else:
            override, touch_seconds = prepare(workdir, args.subjects, args.modalities)
            print(f"{args.subjects} subjects, modalities {modalities}: preparation took {touch_seconds:.0f} s")
        _, plan = snakemake(workdir, override, "-n", "--forceall", "--quiet", "rules")
        jobs = int(re.search(r"^total\s+(\d+)$", plan, re.M).group(1))
        print(f"DAG: {jobs} jobs")
        parse = [snakemake(workdir, override, "--list-rules")[0] for _ in range(args.repeats)]
        print(f"parse only (--list-rules): median {statistics.median(parse):.2f} s")
        times = []
        for _ in range(args.repeats):
            seconds, output = snakemake(workdir, override, "-n")
            if "Nothing to be done" not in output:
                sys.exit(f"expected nothing to do after --touch, got:\n{output[-3000:]}")
            times.append(seconds)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"dry run, nothing to do: median {statistics.median(times):.2f} s (runs: {runs})")


if __name__ == "__main__":
    main()
