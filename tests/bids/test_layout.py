"""Finding images: sessions, runs, other entities, names that do not match their folder."""

from pathlib import Path

import pytest

from neuropeft.bids.layout import (
    FileStat,
    inherited,
    parse_filters,
    parse_name,
    parse_run_policy,
    scan_dataset,
    select_images,
)
from neuropeft.errors import NeuropeftError
from tests.bids.bids_builder import Bids, write_nifti


def images_of(bids: Bids, policy: str | int = "last") -> dict[str, object]:
    return {
        f"{s.subject}/{s.session}": select_images(s, parse_run_policy(policy)) for s in scan_dataset(bids.root).sessions
    }


def test_parse_name() -> None:
    assert parse_name("sub-01_ses-2_acq-hi_run-3_T1w.nii.gz") == (
        {"sub": "01", "ses": "2", "acq": "hi", "run": "3"},
        "T1w",
        ".nii.gz",
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
    assert chosen.problems == [
        ("sub-01", "has no T1w with run-5 (runs found: 1, 2); set run_policy to one of them, 'last' or 'first'")
    ]


def test_single_candidate_is_used_whatever_the_policy(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01", entities="run-2")
    assert images_of(bids, 1)["sub-01/"].t1w == "sub-01/anat/sub-01_run-2_T1w.nii.gz"


def test_several_acquisitions_are_ambiguous_until_filtered(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.dwi("sub-01", entities="dir-PA")
    bids.dwi("sub-01", entities="dir-AP_run-1")
    bids.dwi("sub-01", entities="dir-AP_run-2")
    ambiguous = images_of(bids)["sub-01/"]
    assert ambiguous.dwi == "" and ambiguous.ambiguous == {"dwi": ["dir-AP", "dir-PA"]}
    chosen = select_images(scan_dataset(bids.root).sessions[0], "first", parse_filters({"dwi": {"dir": "AP"}}))
    assert chosen.dwi == "sub-01/dwi/sub-01_dir-AP_run-1_dwi.nii.gz" and chosen.ambiguous == {}
    assert chosen.bval == "sub-01/dwi/sub-01_dir-AP_run-1_dwi.bval"


def test_null_filter_selects_files_without_the_entity(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01")
    bids.t1w("sub-01", entities="acq-fast")
    item = scan_dataset(bids.root).sessions[0]
    assert select_images(item, "last", parse_filters({"t1w": {"acq": None}})).t1w == "sub-01/anat/sub-01_T1w.nii.gz"
    assert (
        select_images(item, "last", parse_filters({"t1w": {"acq": "fast"}})).t1w
        == "sub-01/anat/sub-01_acq-fast_T1w.nii.gz"
    )
    nothing = select_images(item, "last", parse_filters({"t1w": {"acq": "slow"}}))
    assert nothing.t1w == "" and nothing.found == {"t1w": ["", "acq-fast"]} and "t1w" not in nothing.present


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"bold": {"acq": "x"}}, "bids_filters modality 'bold' is not one of ['t1w', 'dwi']"),
        ({"dwi": "AP"}, "must map entities to values"),
        ({"dwi": {"run": 1}}, "cannot filter on 'run'"),
        ({"dwi": {"acq": ["a", "b"]}}, "must be a label"),
    ],
)
def test_bad_filters(filters: dict[str, object], fragment: str) -> None:
    with pytest.raises(NeuropeftError, match="bids_filters") as error:
        parse_filters(filters)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def stats(*rels: str) -> list[FileStat]:
    return [FileStat(rel, 1, 0) for rel in rels]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["dwi.bval"], ["dwi.bval"]),  # ds114: one table at the root for every DWI
        (["dwi.bval", "sub-01/sub-01_dwi.bval"], ["dwi.bval", "sub-01/sub-01_dwi.bval"]),  # closer last
        (["acq-hi_dwi.bval", "dwi.bval"], ["acq-hi_dwi.bval"]),  # of one folder, the most entities
        (
            ["acq-lo_dwi.bval", "sub-02_dwi.bval", "dwi.bvec", "T1w.bval", "task-x_bold.json"],
            [],
        ),  # not a subset / other suffix or extension
        (
            ["sub-01/ses-1/sub-01_ses-1_dwi.bval", "sub-01/ses-1/dwi/sub-01_ses-1_acq-hi_dwi.bval"],
            ["sub-01/ses-1/sub-01_ses-1_dwi.bval", "sub-01/ses-1/dwi/sub-01_ses-1_acq-hi_dwi.bval"],
        ),
    ],
)
def test_inherited_sidecars(files: list[str], expected: list[str]) -> None:
    image = "sub-01/ses-1/dwi/sub-01_ses-1_acq-hi_dwi.nii.gz"
    assert inherited(image, ".bval", stats(*files)) == (expected, [])


def test_two_sidecars_of_one_folder_and_rank_are_a_problem() -> None:
    image = "sub-01/dwi/sub-01_acq-hi_dir-AP_dwi.nii.gz"
    found, problems = inherited(image, ".bval", stats("acq-hi_dwi.bval", "dir-AP_dwi.bval"))
    assert len(found) == 1
    assert problems == [
        (
            image,
            "several .bval files of one folder apply to it (acq-hi_dwi.bval, dir-AP_dwi.bval); keep one, or add the entities that tell them apart",
        )
    ]


def test_dataset_level_sidecars_reach_every_session(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    for ses in ("ses-test", "ses-retest"):
        bids.dwi("sub-01", ses)
        for ext in (".bval", ".bvec"):
            bids.path(f"sub-01/{ses}/dwi/sub-01_{ses}_dwi{ext}").unlink()
    for name in (
        "dwi.bval",
        "dwi.bvec",
        "dwi.json",
        "sub-01/sub-01_dwi.json",
        "sub-01/ses-retest/dwi/sub-01_ses-retest_dwi.json",
    ):
        bids.path(name).write_text("{}")
    found = images_of(bids)
    assert found["sub-01/ses-test"].bval == "dwi.bval" and found["sub-01/ses-retest"].bvec == "dwi.bvec"
    assert found["sub-01/ses-test"].json["dwi"] == ["dwi.json", "sub-01/sub-01_dwi.json"]
    assert found["sub-01/ses-retest"].json["dwi"] == [
        "dwi.json",
        "sub-01/sub-01_dwi.json",
        "sub-01/ses-retest/dwi/sub-01_ses-retest_dwi.json",
    ]


def test_derivatives_sourcedata_and_code_are_not_read(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.subject("sub-01")
    for folder in ("derivatives/dlmuse", "sourcedata", "code"):
        Bids(bids.path(folder)).subject("sub-02")
        bids.path(f"{folder}/dwi.bval").write_text("0\n")
    scan = scan_dataset(bids.root)
    assert [s.subject for s in scan.sessions] == ["sub-01"]
    assert all(rel.startswith("sub-01/") for rel in scan.all_files())


def test_name_not_matching_folder(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    write_nifti(bids.root / "sub-01" / "ses-1" / "anat" / "sub-02_ses-1_T1w.nii.gz", (4, 4, 4))
    chosen = images_of(bids)["sub-01/ses-1"]
    assert chosen.t1w == ""
    assert chosen.problems == [
        (
            "sub-01/ses-1/anat/sub-02_ses-1_T1w.nii.gz",
            "file name does not match its folder sub-01/ses-1; rename it to start with sub-01_ses-1_",
        )
    ]


def test_non_numeric_run(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.t1w("sub-01", entities="run-a")
    ((path, message),) = images_of(bids)["sub-01/"].problems
    assert path.endswith("sub-01_run-a_T1w.nii.gz") and "is not a number" in message


def test_signature_changes_with_content(tmp_path: Path) -> None:
    bids = Bids(tmp_path / "bids")
    bids.subject("sub-01")
    before = scan_dataset(bids.root).signature_lines()
    bval = bids.path("sub-01/dwi/sub-01_dwi.bval")
    bval.write_text(bval.read_text() + " ")
    assert scan_dataset(bids.root).signature_lines() != before


def test_bad_run_policy_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NeuropeftError, match="run_policy 'newest' is not one of"):
        parse_run_policy("newest")
    with pytest.raises(NeuropeftError, match="does not exist; set bids_dir"):
        scan_dataset(tmp_path / "nowhere")
