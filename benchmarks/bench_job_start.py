"""Start cost of the per-subject jobs: ``--help`` and the imports of each step, one TSV.

Run: ``.venv/bin/python benchmarks/bench_job_start.py [--t1w] [--all-steps] [--runs 5] [--demo-settings JSON]``
(work files under benchmarks/out/job_start).

Every per-subject step of the demo's DWI chain (``--t1w``: the T1w chain too) runs once for real,
in the order of the workflow, on one demo subject, with ``python -X importtime``; the modules it
imported at top level (``import ants`` inside a function counts) are its imports. Then, each in a
fresh interpreter, ``--runs`` times (median):

* ``help_s``: ``python -m neuropeft <step> --help`` (what a job pays before its step does anything);
* ``imports_s``: ``python -c "import <the step's imports, in order>"`` (what a job pays before its
  step computes anything, compute excluded);

with the children's CPU seconds (user + system) beside each: on a shared machine CPU time moves
less than wall time. ``run_s`` is the step's whole run (one fresh run, after the one under ``-X importtime``);
``heavy`` names the large libraries it imported (directly or not). The ``python -c pass`` row is the
interpreter's own floor and ``neuropeft --help`` the command-line's; ``--all-steps`` adds the
``--help`` of every other step.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "job_start"
SUB = "sub-001"
#: large libraries worth naming when a step imports them
HEAVY = ("ants", "torch", "deepbet", "dipy", "nilearn", "sklearn", "statsmodels", "matplotlib", "pandas", "scipy")
#: the demo's model grid (config/config.yaml demo_model_grid), which its resample rules use
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
GRID = CONFIG["demo_model_grid"]
#: the demo subject's settings (config demo:, as the demo_cohort_subject rule passes them)
DEMO_SETTINGS = json.dumps({k: v for k, v in CONFIG["demo"].items() if k != "n_subjects"})
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \| ( *)(\S+)$")


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of ``argv`` run to completion in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` fresh runs of ``argv``."""
    times = [timed(argv) for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def imported(argv: list[str]) -> tuple[list[str], set[str]]:
    """Modules ``python -X importtime ARGV`` imports: those at top level (not from inside another
    module's import), in order, and the top-level packages of all of them."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()[-2000:]}")
    lines = [m for m in map(IMPORT_LINE.match, done.stderr.splitlines()) if m]
    return [m[2] for m in lines if not m[1]], {m[2].split(".")[0] for m in lines}


def import_code(modules: list[str]) -> str:
    """Python that imports ``modules`` in order, ANTsPy the way the steps load it (without its
    unused submodules, :func:`neuropeft.preproc.ants_import.load_ants`)."""
    lines = [
        "from neuropeft.preproc.ants_import import load_ants; load_ants()" if m == "ants" else f"import {m}"
        for m in modules
    ]
    return "\n".join(lines) or "pass"


def chain(work: Path, demo: Path, t1w: bool, demo_settings: str) -> list[tuple[str, list[str]]]:
    """(rule, argv after ``python -m neuropeft``) of each per-subject job, in workflow order."""
    bids = demo / "bids" / SUB
    dwi, bval, bvec = (bids / "dwi" / f"{SUB}_dwi{ext}" for ext in (".nii.gz", ".bval", ".bvec"))

    def p(name: str) -> str:
        return str(work / name)

    jobs = [
        ("demo_cohort_subject", ["demo-cohort", "--out", str(demo), "--subject", SUB, "--settings", demo_settings]),
        ("n4_dwi", ["n4-dwi", "--dwi", str(dwi), "--bval", str(bval), "--out", p("dwi_n4.nii.gz"),
                    "--field", p("dwi_field.nii.gz")]),
        ("skullstrip_dwi", ["skullstrip-dwi", "--dwi", p("dwi_n4.nii.gz"), "--bval", str(bval),
                            "--out-mask", p("dwi_mask.nii.gz"), "--out-meanb0", p("dwi_b0.nii.gz")]),
        ("fit_tensor", ["fit-tensor", "--dwi", p("dwi_n4.nii.gz"), "--bval", str(bval), "--bvec", str(bvec),
                        "--mask", p("dwi_mask.nii.gz"), "--out-fa", p("FA.nii.gz"), "--out-md", p("MD.nii.gz"),
                        "--out-ad", p("AD.nii.gz"), "--out-rd", p("RD.nii.gz"), "--out-color-fa", p("cFA.nii.gz")]),
        ("register_dwi", ["register", "--moving", p("dwi_b0.nii.gz"), "--modality", "dwi",
                          "--out-transforms", p("dwi_transforms.json"), "--out-registered", p("dwi_reg.nii.gz")]),
        ("resample_dwi", ["resample", "--image", p("FA.nii.gz"), "--image", p("MD.nii.gz"),
                          "--mask", p("dwi_mask.nii.gz"), "--transforms-json", p("dwi_transforms.json"),
                          "--out", p("dwi_model.nii.gz"), "--settings", json.dumps(GRID | {"normalise": ["fa", "md"]})]),
        ("qc_subject_dwi", ["qc-subject", "--subject", SUB, "--modality", "dwi", "--corrected", p("dwi_n4.nii.gz"),
                            "--mask", p("dwi_mask.nii.gz"), "--registered", p("dwi_reg.nii.gz"),
                            "--color-fa", p("cFA.nii.gz"), "--out-n4", p("qc_dwi_n4.png"),
                            "--out-mask", p("qc_dwi_mask.png"), "--out-registration", p("qc_dwi_reg.png"),
                            "--out-color-fa", p("qc_dwi_cfa.png"), "--transforms", p("dwi_transforms.json"),
                            "--fa", p("FA.nii.gz"), "--md", p("MD.nii.gz"), "--out-metrics", p("qc_dwi.json")]),
    ]  # fmt: skip
    if t1w:
        t1 = str(bids / "anat" / f"{SUB}_T1w.nii.gz")
        jobs += [
            ("n4_t1w", ["n4-t1w", "--t1w", t1, "--out", p("t1w_n4.nii.gz"), "--field", p("t1w_field.nii.gz")]),
            ("skullstrip_t1w", ["skullstrip-t1w", "--t1w", p("t1w_n4.nii.gz"), "--out-mask", p("t1w_mask.nii.gz"),
                                "--out-brain", p("t1w_brain.nii.gz")]),
            ("register_t1w", ["register", "--moving", p("t1w_brain.nii.gz"), "--modality", "t1w",
                              "--out-transforms", p("t1w_transforms.json"), "--out-registered", p("t1w_reg.nii.gz")]),
            ("resample_t1w", ["resample", "--image", p("t1w_brain.nii.gz"), "--mask", p("t1w_mask.nii.gz"),
                              "--transforms-json", p("t1w_transforms.json"), "--out", p("t1w_model.nii.gz"),
                              "--settings", json.dumps(GRID | {"normalise": ["zscore"]})]),
            ("qc_subject_t1w", ["qc-subject", "--subject", SUB, "--modality", "t1w", "--corrected", p("t1w_n4.nii.gz"),
                                "--mask", p("t1w_mask.nii.gz"), "--registered", p("t1w_reg.nii.gz"),
                                "--out-n4", p("qc_t1w_n4.png"), "--out-mask", p("qc_t1w_mask.png"),
                                "--out-registration", p("qc_t1w_reg.png"), "--transforms", p("t1w_transforms.json"),
                                "--out-metrics", p("qc_t1w.json")]),
            ("combine_channels", ["combine-channels", "--volumes", p("dwi_model.nii.gz"), p("t1w_model.nii.gz"),
                                  "--out", p("combined_model.nii.gz")]),
        ]  # fmt: skip
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure (median)")
    parser.add_argument("--t1w", action="store_true", help="also the T1w chain (deepbet, registration) and combine")
    parser.add_argument("--all-steps", action="store_true", help="also --help of the steps that are not per subject")
    parser.add_argument("--demo-settings", default=DEMO_SETTINGS, help="JSON demo settings (default: config.yaml's)")
    args = parser.parse_args()
    py, work, demo = sys.executable, OUT / SUB, OUT / "demo"
    work.mkdir(parents=True, exist_ok=True)
    floor_modules = set(imported(["-c", "pass"])[0])

    rows = [("floor", "python -c pass", *median_of([py, "-c", "pass"], args.runs), "", "", "", "")]
    rows.append(("cli", "neuropeft --help", *median_of([py, "-m", "neuropeft", "--help"], args.runs), "", "", "", ""))
    helped = set()
    for rule, argv in chain(work, demo, args.t1w, args.demo_settings):
        top, packages = imported(["-m", "neuropeft", *argv])
        run_s = timed([py, "-m", "neuropeft", *argv])[0]
        code = import_code([m for m in top if m not in floor_modules])
        heavy = [name for name in HEAVY if name in packages]
        rows.append(
            (
                rule,
                argv[0],
                *median_of([py, "-m", "neuropeft", argv[0], "--help"], args.runs),
                *median_of([py, "-c", code], args.runs),
                f"{run_s:.2f}",
                ",".join(heavy),
            )
        )
        helped.add(argv[0])
    if args.all_steps:
        from neuropeft.cli import steps

        for step in steps():
            if step not in helped:
                rows.append(("", step, *median_of([py, "-m", "neuropeft", step, "--help"], args.runs), "", "", "", ""))

    print("rule\tcommand\thelp_s\thelp_cpu_s\timports_s\timports_cpu_s\trun_s\theavy")
    for row in rows:
        print("\t".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
