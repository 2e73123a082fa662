"""The tiny demo through a real single-node SLURM cluster with the SLURM profile (profiles/slurm).

The cluster is started here (Debian packages installed when missing, as root); where it cannot be,
the tests are skipped with the reason.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.workflow.slurm_cluster import Cluster, SlurmUnavailable, start_cluster
from tests.workflow.snakemake_runner import ROOT, TINY, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
N_SUBJECTS = 8


@dataclass
class SlurmRun:
    workdir: Path
    args: list[str]
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    except SlurmUnavailable as error:
        pytest.skip(f"no SLURM test cluster: {error}")
    yield cluster
    cluster.stop()


def test_profile_sizes_every_rule(tmp_path: Path) -> None:
    """Each rule (both modalities) has memory and wall time in the SLURM profile; no stale names."""
    result = snakemake(tmp_path, "--list-rules", "--config", "modalities=[dwi,t1w]")
    assert result.returncode == 0, result.stderr[-2000:]
    rules = set(result.stdout.split()) - {"all"}
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert set(profile["set-resources"]) == rules
    assert all({"mem_mb", "runtime"} <= set(r) for r in profile["set-resources"].values())
    assert profile["set-resources"]["train"]["gpu"] == 1


def fitted_profile(cluster: Cluster, directory: Path) -> Path:
    """profiles/slurm with every mem_mb capped at the test node's memory (nothing else changed)."""
    profile = yaml.safe_load(PROFILE.read_text())
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], cluster.memory_mb)
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def squeue_jobs() -> list[tuple[str, str, str]]:
    """(job id, state, comment) of every job the test cluster knows."""
    out = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split("|", 2)) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def slurm_run(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    workdir = tmp_path_factory.mktemp("slurm_run")
    profile = fitted_profile(cluster, tmp_path_factory.mktemp("slurm_profile") / "slurm")
    args = [
        "--workflow-profile", str(profile),
        "--configfile", TINY,
        "--executor", "slurm",
        "--slurm-status-command", "squeue",  # the test cluster has no accounting database for sacct
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-no-account",
        "--latency-wait", "10",
        "--default-resources", f"slurm_partition={cluster.partition}",
    ]  # fmt: skip
    start = time.monotonic()
    result = snakemake(workdir, *args, timeout=3000)
    seconds = time.monotonic() - start
    print(f"\nSLURM run of the tiny demo: {seconds:.0f} s wall time, {len(squeue_jobs())} SLURM jobs")
    assert result.returncode == 0, result.stderr[-6000:] + "\n" + cluster.log_tail()
    return SlurmRun(workdir=workdir, args=args, result=result, seconds=seconds)


def test_every_slurm_job_completed(slurm_run: SlurmRun) -> None:
    jobs = squeue_jobs()
    assert jobs, "no job reached SLURM"
    assert all(state == "COMPLETED" for _, state, _ in jobs), jobs
    assert (slurm_run.workdir / "results/metrics/comparison.md").is_file()


def test_each_subject_chain_is_one_slurm_job(slurm_run: SlurmRun) -> None:
    comments = [comment for _, _, comment in squeue_jobs()]
    # per-subject rules share group "subject"; one connected component (subject) per SLURM job
    assert len([c for c in comments if c.startswith("rule_subject")]) == N_SUBJECTS, comments
    assert not [c for c in comments if re.match(r"rule_(n4|skullstrip|fit_tensor|register|resample|qc)_dwi", c)]


def test_training_jobs_requested_a_gpu(slurm_run: SlurmRun) -> None:
    jobs = squeue_jobs()
    train = [job_id for job_id, _, comment in jobs if comment.startswith("rule_train_")]
    assert len(train) == 2, jobs  # tiny demo: one experiment x two folds
    pretrain = [job_id for job_id, _, comment in jobs if comment.startswith("rule_pretrain_")]
    for job_id in train + pretrain:
        details = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
        assert re.search(r"TresPerJob=\S*gres[:/]gpu[:=]1", details), details


def test_second_call_does_nothing(slurm_run: SlurmRun) -> None:
    before = len(squeue_jobs())
    result = snakemake(slurm_run.workdir, *slurm_run.args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr
    assert len(squeue_jobs()) == before
