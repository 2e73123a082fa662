"""A user's BIDS dataset with several broken files: one parse reports every problem; excluded.tsv lists them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.workflow.snakemake_runner import snakemake


@pytest.fixture()
def broken_bids(tiny_demo, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    bids = tmp_path / "bids"
    shutil.copytree(tiny_demo.bids, bids)
    (bids / "sub-001/dwi/sub-001_dwi.nii.gz").write_bytes(b"")  # 0-byte NIfTI
    bval = bids / "sub-002/dwi/sub-002_dwi.bval"
    bval.write_text(" ".join(bval.read_text().split()[:-1]) + "\n")  # one b-value short
    participants = pd.read_csv(bids / "participants.tsv", sep="\t", dtype=str)
    participants.loc[participants["participant_id"] == "sub-003", "diagnosis"] = "n/a"  # no target
    participants.to_csv(bids / "participants.tsv", sep="\t", index=False)
    return bids


def test_every_problem_is_reported_at_once_and_subjects_are_excluded(broken_bids: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = snakemake(
        workdir, "--cores", "1", "--config", f"bids_dir={broken_bids}", "--", "results/cohort/excluded.tsv"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "sub-001_dwi.nii.gz" in output and "0 bytes" in output
    assert "sub-002_dwi.bval" in output
    assert "sub-003" in output and "target" in output
    excluded = pd.read_csv(workdir / "results/cohort/excluded.tsv", sep="\t", dtype=str)
    assert sorted(excluded["participant_id"]) == ["sub-001", "sub-002", "sub-003"]
    cohort = pd.read_csv(workdir / "results/cohort/cohort.tsv", sep="\t", dtype=str)
    assert len(cohort) == len(pd.read_csv(broken_bids / "participants.tsv", sep="\t")) - 3


def test_stop_policy_refuses_to_run_and_lists_the_problems(broken_bids: Path, tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--config", f"bids_dir={broken_bids}", "on_invalid=stop")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "3 problem(s)" in output
    assert "sub-001_dwi.nii.gz" in output and "sub-002_dwi.bval" in output and "sub-003" in output
