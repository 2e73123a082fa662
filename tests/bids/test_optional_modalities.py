"""load_cohort with optional_modalities: a row lacking one is kept (its fields ""), a required one still counts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from neuropeft.bids.index import load_cohort
from neuropeft.errors import NeuropeftError
from tests.bids.bids_builder import Bids

BOTH = ["t1w", "dwi"]


def test_a_subject_lacking_an_optional_modality_is_kept_with_empty_fields(
    make_bids: Callable[..., Bids], cache_dir: Path
) -> None:
    bids = make_bids(3)
    shutil.rmtree(bids.path("sub-02/dwi"))
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, optional_modalities=["dwi"])
    assert cohort.problems == []
    assert list(cohort.rows.participant_id) == ["sub-01", "sub-02", "sub-03"]
    row = cohort.rows.set_index("participant_id").loc["sub-02"]
    assert (row.dwi, row.bval, row.bvec) == ("", "", "")
    assert row.t1w.endswith("sub-02/anat/sub-02_T1w.nii.gz")


def test_a_missing_required_modality_is_still_a_problem(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(3)
    shutil.rmtree(bids.path("sub-02/dwi"))
    bids.path("sub-03/anat/sub-03_T1w.nii.gz").unlink()
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, optional_modalities=["dwi"])
    assert list(cohort.rows.participant_id) == ["sub-01", "sub-02"]
    assert [(p.path_or_subject, "has no T1w image" in p.message) for p in cohort.problems] == [("sub-03", True)]


def test_without_optional_modalities_the_subject_is_excluded(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    shutil.rmtree(bids.path("sub-02/dwi"))
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert list(cohort.rows.participant_id) == ["sub-01"]


def test_a_present_optional_modality_is_still_checked(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    bids.path("sub-02/dwi/sub-02_dwi.bval").unlink()
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, optional_modalities=["dwi"])
    assert list(cohort.rows.participant_id) == ["sub-01"]
    assert "does not exist" in cohort.problems[0].message


def test_with_sessions_a_session_with_the_required_modalities_is_complete(tmp_path: Path, cache_dir: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.participants([{"participant_id": "sub-01", "diagnosis": 0, "site": "A"}])
    bids.subject("sub-01", "ses-1")
    bids.t1w("sub-01", "ses-2")  # no DWI in ses-2
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, optional_modalities=["dwi"])
    assert cohort.problems == []
    assert list(cohort.rows.key) == ["sub-01/ses-1", "sub-01/ses-2"]
    assert list(cohort.rows.dwi.map(bool)) == [True, False]
    required_only = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert list(required_only.rows.key) == ["sub-01/ses-1"]


def test_the_cache_tells_the_optional_modalities_apart(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    shutil.rmtree(bids.path("sub-02/dwi"))
    assert len(load_cohort(bids.root, cache_dir, "diagnosis", BOTH).rows) == 1
    assert len(load_cohort(bids.root, cache_dir, "diagnosis", BOTH, optional_modalities=["dwi"]).rows) == 2
    stored = [json.loads(p.read_text())["arguments"] for p in cache_dir.glob("bids-index-*.json")]
    assert sorted(a.get("optional_modalities", []) for a in stored) == [[], ["dwi"]]


@pytest.mark.parametrize(
    ("modalities", "optional", "fragment"),
    [(["dwi"], ["dwi"], "leave no modality required"), (["t1w"], ["dwi"], "are not in modalities")],
)
def test_bad_optional_modalities_are_refused(
    make_bids: Callable[..., Bids], cache_dir: Path, modalities: list[str], optional: list[str], fragment: str
) -> None:
    bids = make_bids(2)
    with pytest.raises(NeuropeftError, match=fragment):
        load_cohort(bids.root, cache_dir, "diagnosis", modalities, optional_modalities=optional)
