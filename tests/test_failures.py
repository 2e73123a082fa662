"""Failure records: written by a failing step, cleared on success, and applying only while nothing changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.failures import current_failures, drop_failed, failure_summary, write_failure_record


def _subject(tmp_path: Path, stem: str) -> dict[str, str]:
    raw = tmp_path / "bids" / f"{stem}_dwi.bval"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text("0 1000\n")
    os.utime(raw, ns=(1_000_000_000, 1_000_000_000))  # older than any record written now
    return {
        "participant_id": stem,
        "session": "",
        "stem": stem,
        "key": stem,
        "bval": str(raw),
        "dwi": "",
        "t1w": "",
        "bvec": "",
    }


def test_failing_step_writes_a_record_and_success_clears_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = tmp_path / "failures" / "sub-01" / "skullstrip_dwi.json"
    missing = tmp_path / "missing.nii.gz"
    args = [
        "skullstrip-dwi",
        "--dwi",
        str(missing),
        "--bval",
        str(missing),
        "--out-mask",
        str(tmp_path / "m.nii.gz"),
        "--out-meanb0",
        str(tmp_path / "b.nii.gz"),
        "--settings",
        "{}",
    ]
    assert cli_main(["--failure-record", str(record), *args]) == 1
    saved = json.loads(record.read_text())
    assert saved["command"] == "skullstrip-dwi" and saved["settings"] == "{}"
    assert "missing.nii.gz" in saved["reason"] and saved["reason"] in capsys.readouterr().err
    # a later success of the same step removes the record
    assert (
        cli_main(
            ["--failure-record", str(record), "failure-table", "--failures", "[]", "--out", str(tmp_path / "f.tsv")]
        )
        == 0
    )
    assert not record.exists()


def test_records_apply_until_the_raw_files_or_the_settings_change(tmp_path: Path) -> None:
    subjects = [_subject(tmp_path, "sub-01"), _subject(tmp_path, "sub-02")]
    failures_dir = tmp_path / "failures"
    write_failure_record(failures_dir / "sub-01" / "n4_dwi.json", "n4-dwi", "the image is blank", '{"a":1}')
    write_failure_record(failures_dir / "sub-99" / "n4_dwi.json", "n4-dwi", "not in the cohort", '{"a":1}')
    settings = {"n4_dwi": '{"a":1}'}
    found = current_failures(failures_dir, subjects, settings)
    assert found == [
        {"participant_id": "sub-01", "session": "", "stem": "sub-01", "step": "n4_dwi", "reason": "the image is blank"}
    ]
    assert current_failures(failures_dir, subjects, {"n4_dwi": '{"a":2}'}) == []  # settings changed
    assert current_failures(failures_dir, subjects, {}) == []  # not a per-subject step any more
    os.utime(subjects[0]["bval"])  # the raw file changed after the failure
    assert current_failures(failures_dir, subjects, settings) == []
    assert current_failures(tmp_path / "none", subjects, settings) == []


def test_drop_failed_keeps_the_others_and_guards_the_fraction() -> None:
    subjects = [{"stem": f"sub-0{i}"} for i in range(1, 5)]
    failures = [{"stem": "sub-02", "step": "n4_dwi", "reason": "blank"}]
    assert [s["stem"] for s in drop_failed(subjects, failures, 0.25, "results/failures")] == [
        "sub-01",
        "sub-03",
        "sub-04",
    ]
    with pytest.raises(NeuropeftError, match="1 of 4 subjects failed.*max_failed_fraction 0.2"):
        drop_failed(subjects, failures, 0.2, "results/failures")


def test_summary_names_subject_step_reason_and_the_next_step() -> None:
    failures = [
        {"participant_id": "sub-02", "session": "", "stem": "sub-02", "step": "n4_dwi", "reason": "the image is blank"}
    ]
    drop = failure_summary(failures, "drop", "results/external/cohort/failures.tsv")
    assert "sub-02 at n4_dwi: the image is blank" in drop and "run the same command again" in drop
    assert "results/external/cohort/failures.tsv" in drop
    assert "set on_subject_failure: drop" in failure_summary(failures, "stop", "t.tsv")
    assert failure_summary([], "drop", "t.tsv") == ""
