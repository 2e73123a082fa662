"""Finding images: sessions, runs, other entities, names that do not match their folder."""

from pathlib import Path

import pytest

from bids_builder import Bids, write_nifti
from neuropeft.bids.layout import parse_name, parse_run_policy, scan_dataset, select_images
from neuropeft.errors import NeuropeftError


def images_of(bids: Bids, policy: str | int = "last") -> dict[str, object]:
    return {f"{s.subject}/{s.session}": select_images(s, parse_run_policy(policy)) for s in scan_dataset(bids.root).sessions}


def test_parse_name() -> None:
    assert parse_name("sub-01_ses-2_acq-hi_run-3_T1w.nii.gz") == (
        {"sub": "01", "ses": "2", "acq": "hi", "run": "3"}, "T1w", ".nii.gz"
    )
    assert parse_name("sub-01_sub-02_T1w.nii") is None
    assert parse_name("notes_T1w.txt") is None


def test_sessions_and_subject_without_sessions(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.subject("sub-01", "ses-1")
    bids.subject("sub-01", "ses-2")
    bids.subject("sub-02")
    (bids.root / "sub-03").mkdir()
    found = images_of(bids)
    assert sorted(found) == ["sub-01/ses-1", "sub-01/ses-2", "sub-02/", "sub-03/"]
    assert found["sub-01/ses-2"].t1w == "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz"
    assert found["sub-01/ses-2"].bvec == "sub-01/ses-2/dwi/sub-01_ses-2_dwi.bvec"
    assert found["sub-03/"].t1w == found["sub-03/"].dwi == ""


@pytest.mark.parametrize(("policy", "run"), [("last", "3"), ("first", "1"), ("2", "2"), (2, "2")])
def test_run_policy(tmp_path: Path, policy: str | int, run: str) -> None:
    bids = Bids(tmp_path / "bids")
    for r in ("1", "2", "3"):
        bids.t1w("sub-01", entities=f"run-{r}")
        bids.dwi("sub-01", entities=f"acq-b1000_run-{r}")
    chosen = images_of(bids, policy)["sub-01/"]
    assert chosen.t1w == f"sub-01/anat/sub-01_run-{run}_T1w.nii.gz"
    assert chosen.dwi == f"sub-01/dwi/sub-01_acq-b1000_run-{run}_dwi.nii.gz"
    assert chosen.bval == f"sub-01/dwi/sub-01_acq-b1000_run-{run}_dwi.bval"
    assert chosen.problems == []


def test_configured_run_missing_is_a_problem(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01", entities="run-1")
    bids.t1w("sub-01", entities="run-2")
    chosen = images_of(bids, 5)["sub-01/"]
    assert chosen.t1w == ""
    assert chosen.problems == [("sub-01", "has no T1w with run-5 (runs found: 1, 2); set run_policy to one of them, 'last' or 'first'")]


def test_single_candidate_is_used_whatever_the_policy(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01", entities="run-2")
    assert images_of(bids, 1)["sub-01/"].t1w == "sub-01/anat/sub-01_run-2_T1w.nii.gz"


def test_same_run_ties_take_the_first_name(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.dwi("sub-01", entities="dir-PA")
    bids.dwi("sub-01", entities="dir-AP")
    assert images_of(bids)["sub-01/"].dwi == "sub-01/dwi/sub-01_dir-AP_dwi.nii.gz"


def test_name_not_matching_folder(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    write_nifti(bids.root / "sub-01" / "ses-1" / "anat" / "sub-02_ses-1_T1w.nii.gz", (4, 4, 4))
    chosen = images_of(bids)["sub-01/ses-1"]
    assert chosen.t1w == ""
    assert chosen.problems == [
        ("sub-01/ses-1/anat/sub-02_ses-1_T1w.nii.gz", "file name does not match its folder sub-01/ses-1; rename it to start with sub-01_ses-1_")
    ]


def test_non_numeric_run(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01", entities="run-a")
    (path, message), = images_of(bids)["sub-01/"].problems
    assert path.endswith("sub-01_run-a_T1w.nii.gz") and "is not a number" in message


def test_signature_changes_with_content(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.subject("sub-01")
    before = scan_dataset(bids.root).signature_lines()
    bval = bids.path("sub-01/dwi/sub-01_dwi.bval")
    bval.write_text(bval.read_text() + " ")
    assert scan_dataset(bids.root).signature_lines() != before


def test_bad_run_policy_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NeuropeftError, match="run_policy 'newest' is not valid"):
        parse_run_policy("newest")
    with pytest.raises(NeuropeftError, match="does not exist; set bids_dir"):
        scan_dataset(tmp_path / "nowhere")
