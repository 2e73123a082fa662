"""What a rerun redoes after a finished tiny run: changed raw data, a changed experiment, a killed job.

One tiny demo run (two experiments) is shared by the tests below, which run in file order; each but
the last leaves the working directory up to date again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.workflow.snakemake_runner import SNAKEMAKE, TINY, job_counts, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

CHANGED = "sub-003"
PREPROC_STEPS = (
    "n4_dwi",
    "skullstrip_dwi",
    "fit_tensor",
    "register_dwi",
    "resample_dwi",
    "qc_subject_dwi",
)
SECOND = {
    "name": "tiny-probe",
    "backbone": "resnet10",
    "method": "linear_probe",
    "head": "mlp",
    "epochs": 1,
    "batch_size": 2,
    "lr": 1.0e-03,
}


def two_experiments(directory: Path, **second_changes: object) -> str:
    """A config file adding a second experiment (optionally with changed settings) to the tiny one."""
    first = yaml.safe_load(Path(TINY).read_text())["experiments"]
    path = directory / f"experiments{'-changed' if second_changes else ''}.yaml"
    path.write_text(yaml.safe_dump({"experiments": [*first, {**SECOND, **second_changes}]}))
    return str(path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished tiny demo with two experiments (tiny-lora, tiny-probe)."""
    workdir = tmp_path_factory.mktemp("staleness")
    result = snakemake(workdir, "--cores", "2", *config_args(workdir))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def config_args(workdir: Path) -> list[str]:
    return ["--configfile", TINY, two_experiments(workdir)]


def dry_run(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    result = snakemake(workdir, "-n", *config_args(workdir), *args)
    return result, job_counts(result.stdout + result.stderr)


def assert_nothing_to_do(workdir: Path) -> None:
    result, counts = dry_run(workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "cannot be locked" not in output, result.stderr[-3000:]
    assert "Nothing to be done" in output, counts


def subject_outputs(workdir: Path) -> dict[Path, int]:
    """Modification time of every derivative, log and benchmark file of a subject (not raw data)."""
    results = workdir / "results"
    return {
        path: path.stat().st_mtime_ns
        for path in results.rglob("*sub-*")
        if path.is_file() and not path.is_relative_to(results / "demo")
    }


def test_a_finished_run_has_nothing_pending(run_dir: Path) -> None:
    assert_nothing_to_do(run_dir)


def test_touching_a_small_input_is_not_a_change(run_dir: Path) -> None:
    bval = run_dir / f"results/demo/bids/{CHANGED}/dwi/{CHANGED}_dwi.bval"
    os.utime(bval)  # inputs under 1 MB are compared by checksum, not by mtime
    assert_nothing_to_do(run_dir)


def test_changed_experiment_setting_reruns_only_that_experiment(run_dir: Path) -> None:
    result = snakemake(run_dir, "-n", "--configfile", TINY, two_experiments(run_dir, lr=5.0e-4))
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr[-3000:]
    # and the run record, which holds the configuration
    assert job_counts(output) == {
        "train": 2,
        "aggregate_experiment": 1,
        "compare_experiments": 1,
        "record_run": 1,
        "all": 1,
    }
    assert set(re.findall(r"experiment=([\w.-]+)", output)) == {"tiny-probe"}


def test_killed_job_leaves_no_partial_output_and_rerun_incomplete_redoes_only_it(run_dir: Path) -> None:
    target = run_dir / "results/models/tiny-probe/fold-0"
    outputs = [target / name for name in ("predictions.tsv", "history.tsv", "run.json")]
    incomplete = run_dir / ".snakemake" / "incomplete"
    kill_while_running(run_dir, "results/models/tiny-probe/fold-0/run.json", len(outputs))
    # Snakemake removed the old outputs as the job started; the step writes atomically: nothing partial
    assert not any(path.exists() for path in outputs)
    assert len(list(incomplete.iterdir())) == len(outputs)

    # a step killed after writing its outputs non-atomically would leave them partial: they are
    # reported incomplete, and --rerun-incomplete redoes that job and what depends on it, nothing else
    for path in outputs:
        path.write_text("partial")
    result, _ = dry_run(run_dir)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "IncompleteFilesException" in output, output[-3000:]
    assert "results/models/tiny-probe/fold-0/run.json" in output

    result = snakemake(run_dir, "--cores", "2", "--rerun-incomplete", *config_args(run_dir))
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_counts(output) == {"train": 1, "aggregate_experiment": 1, "compare_experiments": 1, "all": 1}
    assert re.findall(r"experiment=([\w.-]+), fold=(\d+)", output) == [("tiny-probe", "0")]
    assert all(path.read_text() != "partial" for path in outputs)
    assert_nothing_to_do(run_dir)


def kill_while_running(run_dir: Path, target: str, n_outputs: int, force: bool = True) -> None:
    """Run (or force) the job making ``target``, SIGKILL the whole run as the job starts, then unlock."""
    incomplete = run_dir / ".snakemake" / "incomplete"
    process = subprocess.Popen(
        # the target before --configfile, which would take it for another config file
        [
            *SNAKEMAKE,
            "--directory",
            str(run_dir),
            "--cores",
            "1",
            target,
            *(["--force"] if force else []),
            *config_args(run_dir),
        ],
        cwd=run_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    # the incomplete markers are written as the job starts; every step takes seconds (imports alone)
    while not (incomplete.is_dir() and len(list(incomplete.iterdir())) == n_outputs):
        assert process.poll() is None and time.monotonic() < deadline, f"the job making {target} did not start"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    wait_for_group_exit(process.pid)
    # a killed Snakemake leaves its lock behind: --unlock is the way out
    assert snakemake(run_dir, "--unlock", *config_args(run_dir)).returncode == 0


def wait_for_group_exit(pgid: int, timeout: float = 30) -> None:
    """Wait until no process of the killed process group is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(stat.parent.name)
        if not members:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of the killed run are still alive: {members}")


def test_changed_raw_data_reruns_that_subject_and_the_cohort_steps_only(run_dir: Path) -> None:
    bval = run_dir / f"results/demo/bids/{CHANGED}/dwi/{CHANGED}_dwi.bval"
    values = bval.read_text().split()
    index = next(i for i, v in enumerate(values) if float(v) > 0)
    values[index] = f"{float(values[index]) + 1:g}"  # still a valid b-value, different content
    bval.write_text(" ".join(values) + "\n")

    result, counts = dry_run(run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {step: 1 for step in PREPROC_STEPS}
    expected |= {"validate_cohort": 1, "stack_model_input": 1, "qc_table": 1, "folds": 1}
    expected |= {"pretrain": 1, "train": 4, "aggregate_experiment": 2, "compare_experiments": 1, "all": 1}
    assert counts == expected, counts

    # run the changed subject's chain and the cohort steps for real (learning is checked by the plan)
    before = subject_outputs(run_dir)
    targets = ["results/cohort/model_input.npy", "results/qc/qc.tsv", f"results/qc/{CHANGED}/{CHANGED}_dwi_colorFA.png"]
    result = snakemake(run_dir, *targets, "--cores", "2", *config_args(run_dir))  # targets before --configfile
    assert result.returncode == 0, result.stderr[-3000:]
    cohort_steps = ("validate_cohort", "stack_model_input", "qc_table")
    assert job_counts(result.stdout + result.stderr) == {step: expected[step] for step in PREPROC_STEPS + cohort_steps}
    after = subject_outputs(run_dir)
    assert set(after) == set(before)
    changed = {path for path in before if after[path] != before[path]}
    assert changed and all(CHANGED in str(path) for path in changed), sorted(map(str, changed))[:10]
    model_input = next(p for p in changed if "model_input" in str(p) and p.name.endswith("_model.nii.gz"))
    assert model_input.parent.name == CHANGED
    # what is left is learning; folds.tsv stays, as model_input.tsv kept its content (checksummed)
    _, counts = dry_run(run_dir)
    assert counts == {"pretrain": 1, "train": 4, "aggregate_experiment": 2, "compare_experiments": 1, "all": 1}


def test_killed_preprocessing_job_is_the_only_preprocessing_redone(run_dir: Path) -> None:
    """Last on purpose: the learning left pending by the test above stays pending."""
    subject = "sub-001"
    outputs = [
        run_dir / f"results/preproc/{subject}/dwi/{subject}_{name}.nii.gz"
        for name in ("desc-n4_dwi", "desc-biasfield_dwiref")
    ]
    # as in a run interrupted before it reached this subject's later steps: they are not there yet
    for folder in ("preproc", "model_input", "qc"):
        shutil.rmtree(run_dir / "results" / folder / subject)
    kill_while_running(run_dir, str(outputs[0].relative_to(run_dir)), len(outputs), force=False)
    assert not any(path.exists() for path in outputs)  # nothing partial: written under a temporary name
    result, counts = dry_run(run_dir, "--rerun-incomplete")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # the killed job, then only what depends on it: that subject's later steps and the cohort steps
    assert all(counts.get(step) == 1 for step in PREPROC_STEPS), counts
    assert set(re.findall(r"file_prefix=(sub-\w+)", output)) == {subject}
