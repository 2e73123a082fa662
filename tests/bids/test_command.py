"""``neuropeft validate-cohort``: tables written atomically, one line per problem, exit codes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.cli import main
from tests.bids.bids_builder import Bids


def run(bids: Bids, out: Path, *extra: str) -> int:
    return main(
        [
            "validate-cohort",
            "--bids-dir",
            str(bids.root),
            "--target",
            "diagnosis",
            "--modalities",
            "dwi",
            "t1w",
            "--site-column",
            "site",
            "--run-policy",
            "last",
            "--out-cohort",
            str(out / "cohort.tsv"),
            "--out-excluded",
            str(out / "excluded.tsv"),
            "--cache-dir",
            str(out / "cache"),
            *extra,
        ]
    )


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def break_two(bids: Bids) -> None:
    bids.path("sub-01/dwi/sub-01_dwi.bval").unlink()
    bids.path("sub-02/anat/sub-02_T1w.nii.gz").write_bytes(b"")


def test_clean_dataset_writes_header_only_excluded(
    make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = make_bids(3)
    assert run(bids, tmp_path / "out", "--on-invalid", "stop") == 0
    cohort = read(tmp_path / "out" / "cohort.tsv")
    assert list(cohort.participant_id) == ["sub-01", "sub-02", "sub-03"] and list(cohort.session) == ["", "", ""]
    assert (tmp_path / "out" / "excluded.tsv").read_text() == "participant_id\tsession\treason\n"
    assert "3 row(s) kept, 0 excluded; target 'diagnosis' looks binary" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "out")) == ["cache", "cohort.tsv", "excluded.tsv"]  # no temporaries left


def test_exclude_warns_and_continues(
    make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = make_bids(3)
    break_two(bids)
    assert run(bids, tmp_path / "out", "--on-invalid", "exclude") == 0
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if line.startswith("neuropeft validate-cohort: warning: ")]
    assert len(warnings) == 2
    assert warnings[0].endswith("sub-01_dwi.bval: does not exist; add it or fix the path")
    assert "sub-02_T1w.nii.gz: is empty (0 bytes)" in warnings[1]
    assert list(read(tmp_path / "out" / "cohort.tsv").participant_id) == ["sub-03"]
    excluded = read(tmp_path / "out" / "excluded.tsv")
    assert list(excluded.participant_id) == ["sub-01", "sub-02"]
    assert excluded.reason[0] == "sub-01/dwi/sub-01_dwi.bval: does not exist; add it or fix the path"


def test_stop_lists_every_problem_and_exits_1(
    make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = make_bids(3)
    break_two(bids)
    assert run(bids, tmp_path / "out", "--on-invalid", "stop") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("neuropeft validate-cohort: error: ") for line in lines)
    assert (
        lines[-1]
        == f"neuropeft validate-cohort: error: 2 problem(s) in {bids.root} (listed above); fix them or use --on-invalid exclude"
    )
    assert not (tmp_path / "out" / "cohort.tsv").exists() and not (tmp_path / "out" / "excluded.tsv").exists()


def test_fatal_error_is_one_line(
    make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = make_bids(2)
    (bids.root / "participants.tsv").write_text("participant_id\tgroup\nsub-01\t1\nsub-02\t0\n")
    assert run(bids, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "has no column 'diagnosis' for the target (columns: participant_id, group); set target to one of them" in err


def test_nothing_left_is_an_error(
    make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = make_bids(1)
    bids.path("sub-01/dwi/sub-01_dwi.bval").unlink()
    assert run(bids, tmp_path / "out") == 1
    assert "no usable (subject, session)" in capsys.readouterr().err.splitlines()[-1]


def test_default_cache_dir(make_bids: Callable[..., Bids], tmp_path: Path) -> None:
    bids = make_bids(1)
    out = tmp_path / "results" / "cohort"
    assert (
        main(
            [
                "validate-cohort",
                "--bids-dir",
                str(bids.root),
                "--target",
                "diagnosis",
                "--modalities",
                "dwi",
                "--out-cohort",
                str(out / "cohort.tsv"),
                "--out-excluded",
                str(out / "excluded.tsv"),
            ]
        )
        == 0
    )
    assert len(list((out / ".bids-index").glob("bids-index-*.json"))) == 1


def test_bad_run_policy(make_bids: Callable[..., Bids], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(make_bids(1), tmp_path / "out", "--run-policy", "newest") == 1
    assert "run_policy 'newest' is not one of" in capsys.readouterr().err
