"""Time parsing + DAG building of the workflow for a 1,000-subject cohort with every output present.

The cohort is the built-in demo's, or with ``--bids`` a BIDS dataset of tiny files (hard links to
four template files, built by ``bench_parse_index.build``), as a user's dataset is run: no demo jobs.
Every output (as listed by ``snakemake --summary``) is created as an empty file, then
``snakemake --touch --forceall`` visits every job in DAG order (mtimes in order, metadata recorded as a
real run would), so the timed runs have nothing to do.
Goal: the dry run within 10 s. Also timed: parsing alone (``--list-rules``), which every cluster job
pays again before it runs its own few jobs, and with ``--real`` the no-op ``snakemake --cores 2`` a
user runs (lock, DAG, nothing to do).

    .venv/bin/python benchmarks/bench_dag.py [--subjects 1000] [--bids] [--real] [--modalities dwi t1w]
        [--repeats 3] [--workdir DIR [--reuse]]

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


def prepare(workdir: Path, n_subjects: int, modalities: list[str], bids: bool) -> tuple[Path, float]:
    """Write the config override (and with ``bids`` the dataset), every output (demo cohort
    included) as an empty file, then touch them in DAG order.

    ``--touch --forceall`` visits every job in order, updating mtimes and recording each job's
    metadata (params, code, input checksums) as a real run would.
    """
    start = time.perf_counter()
    override = workdir / "bench.yaml"
    settings: dict[str, object] = {"demo": {"n_subjects": n_subjects}, "modalities": modalities}
    if bids:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_parse_index import build

        build(workdir / "bids", n_subjects)  # with workdir/templates, the files it links to
        settings["bids_dir"] = str(workdir / "bids")
    override.write_text(yaml.safe_dump(settings))
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
    parser.add_argument("--bids", action="store_true", help="a BIDS dataset of tiny files instead of the demo")
    parser.add_argument("--real", action="store_true", help="also time the no-op real run (--cores 2)")
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
            override, touch_seconds = prepare(workdir, args.subjects, args.modalities, args.bids)
            cohort = "BIDS dataset" if args.bids else "demo"
            print(
                f"{args.subjects} subjects ({cohort}), modalities {modalities}: preparation took {touch_seconds:.0f} s"
            )
        _, plan = snakemake(workdir, override, "-n", "--forceall", "--quiet", "rules")
        jobs = int(re.search(r"^total\s+(\d+)$", plan, re.M).group(1))
        per_rule = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.split("total")[0], re.M))
        print(f"DAG: {jobs} jobs ({', '.join(f'{rule} {n}' for rule, n in per_rule.items() if rule != 'job')})")
        parse = [snakemake(workdir, override, "--list-rules")[0] for _ in range(args.repeats)]
        report("parse only (--list-rules)", parse)
        report("dry run, nothing to do (-n)", no_op(workdir, override, args.repeats, "-n"), jobs)
        if args.real:
            report("real run, nothing to do (--cores 2)", no_op(workdir, override, args.repeats, "--cores", "2"), jobs)


def no_op(workdir: Path, override: Path, repeats: int, *args: str) -> list[float]:
    """Seconds of ``repeats`` runs of snakemake ``args``, each checked to have had nothing to do."""
    times = []
    for _ in range(repeats):
        seconds, output = snakemake(workdir, override, *args)
        if "Nothing to be done" not in output:
            sys.exit(f"expected nothing to do after --touch, got:\n{output[-3000:]}")
        times.append(seconds)
    return times


def report(what: str, times: list[float], jobs: int = 0) -> None:
    """Min and median of the runs (and the median's milliseconds per job)."""
    runs = ", ".join(f"{t:.2f}" for t in times)
    per_job = f", {1000 * statistics.median(times) / jobs:.2f} ms/job" if jobs else ""
    print(f"{what}: min {min(times):.2f} s, median {statistics.median(times):.2f} s{per_job} (runs: {runs})")


if __name__ == "__main__":
    main()
