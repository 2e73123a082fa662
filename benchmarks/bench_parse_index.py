"""Time ``load_cohort`` on a fake 1,000-subject BIDS dataset: cold (no cache), warm (cache hit),
after one file changed (incremental), and warm in a fresh Python process (imports included).

Every subject's files are hard links to one tiny valid T1w, DWI, .bval and .bvec, so building the
dataset is fast; the checks still open each subject's headers on a cold run (nothing is memoised
across files). The CPU seconds of this process are printed too: on a shared machine they vary
less than the wall-clock seconds.

    .venv/bin/python benchmarks/bench_parse_index.py [--subjects 1000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np


def build(root: Path, n_subjects: int) -> None:
    """A BIDS dataset of ``n_subjects`` subjects made of hard links to four template files."""
    templates = root.parent / "templates"
    templates.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), str(templates / "T1w.nii.gz"))
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8, 7), np.float32), np.eye(4)), str(templates / "dwi.nii.gz"))
    (templates / "dwi.bval").write_text("0 1000 1000 1000 0 1000 1000\n")
    (templates / "dwi.bvec").write_text("0 1 0 0 0 1 0\n0 0 1 0 0 0 1\n0 0 0 1 0 0 0\n")
    root.mkdir()
    lines = ["participant_id\tdiagnosis\tage\tsite"]
    for index in range(1, n_subjects + 1):
        sub = f"sub-{index:04d}"
        lines.append(f"{sub}\t{index % 2}\t{40 + index % 30}\t{'ABC'[index % 3]}")
        (root / sub / "anat").mkdir(parents=True)
        (root / sub / "dwi").mkdir()
        os.link(templates / "T1w.nii.gz", root / sub / "anat" / f"{sub}_T1w.nii.gz")
        for ext in ("nii.gz", "bval", "bvec"):
            os.link(templates / f"dwi.{ext}", root / sub / "dwi" / f"{sub}_dwi.{ext}")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")


def timed(call: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()  # type: ignore[operator]
    return time.perf_counter() - start, result


def cpu_timed(call: object) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    start = time.process_time()
    wall, result = timed(call)
    return wall, time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to build and keep it (default: a temporary folder, removed)"
    )
    args = parser.parse_args()
    if args.workdir:
        run(args.workdir, args.subjects)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_bids_") as workdir:
            run(Path(workdir), args.subjects)


def run(workdir: Path, n_subjects: int) -> None:
    """Build the dataset under ``workdir`` and print the timings."""
    root, cache = workdir / "bids", workdir / "cache"
    build_seconds, _ = timed(lambda: build(root, n_subjects))

    from neuropeft.bids.index import load_cohort

    def load() -> object:
        return load_cohort(root, cache, "diagnosis", ["dwi", "t1w"], "site", "last")

    cold, cold_cpu, cohort = cpu_timed(load)
    assert len(cohort.rows) == n_subjects and not cohort.problems, cohort.problems[:3]
    warm_runs = [cpu_timed(load) for _ in range(5)]
    warm, warm_cpu = (statistics.median(run[i] for run in warm_runs) for i in (0, 1))
    changed = root / "sub-0001" / "dwi" / "sub-0001_dwi.bval"
    changed.unlink()  # break the hard link, then write different content
    changed.write_text("0 1000 1000 1000 0 1000 2000\n")
    incremental, incremental_cpu, _ = cpu_timed(load)
    code = (
        "import time; t = time.perf_counter(); from neuropeft.bids.index import load_cohort; "
        f"c = load_cohort({str(root)!r}, {str(cache)!r}, 'diagnosis', ['dwi', 't1w'], 'site', 'last'); "
        "print(time.perf_counter() - t, len(c.rows))"
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    print(f"subjects: {n_subjects} (built in {build_seconds:.2f} s at {workdir})")
    print(f"cold (cache miss, every header checked): {cold:.3f} s (CPU {cold_cpu:.3f} s)")
    print(f"warm (cache hit, median of 5):           {warm:.3f} s (CPU {warm_cpu:.3f} s)")
    print(f"one file changed (incremental miss):     {incremental:.3f} s (CPU {incremental_cpu:.3f} s)")
    print(f"warm in a fresh process, with imports:  {float(fresh[0]):.3f} s ({fresh[1]} rows)")


if __name__ == "__main__":
    main()
