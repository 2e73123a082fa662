"""BIDS as it comes: inherited sidecars, sessions without a modality, several acquisitions, real data."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.bids.index import load_cohort
from neuropeft.bids.problems import format_problems
from neuropeft.cli import main
from neuropeft.errors import NeuropeftError
from tests.bids.bids_builder import BVALS, BVECS, ds000117_like, ds114_like, with_participants, write_table

BOTH = ["dwi", "t1w"]
IXI10 = Path(os.environ.get("NEUROPEFT_REAL_DATA", "/work/shared/data/real")) / "ixi10"


def test_ds114_root_gradient_table_applies_to_every_session(tmp_path: Path) -> None:
    bids = ds114_like(tmp_path / "ds114")
    cohort = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert cohort.problems == [], format_problems(cohort.problems)
    assert list(cohort.rows.key) == [f"sub-0{i}/{ses}" for i in (1, 2, 3) for ses in ("ses-retest", "ses-test")]
    assert set(cohort.rows.bval) == {str(bids.path("dwi.bval"))} and set(cohort.rows.bvec) == {
        str(bids.path("dwi.bvec"))
    }
    assert cohort.summary() == "0 of 3 subjects excluded"


def test_closer_table_overrides_a_broken_root_one(tmp_path: Path) -> None:
    """The root table is validated for every DWI it applies to; sub-01's own tables override it."""
    bids = ds114_like(tmp_path / "ds114")
    write_table(bids.path("dwi.bval"), [BVALS[:6]])
    write_table(bids.path("sub-01/sub-01_dwi.bval"), [BVALS])
    write_table(bids.path("sub-01/sub-01_dwi.bvec"), BVECS)
    cohort = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert list(cohort.rows.participant_id) == ["sub-01", "sub-01"]
    assert set(cohort.rows.bval) == {str(bids.path("sub-01/sub-01_dwi.bval"))}
    assert set(cohort.rows.bvec) == {str(bids.path("sub-01/sub-01_dwi.bvec"))}
    excluded = cohort.excluded.set_index(["participant_id", "session"]).reason
    assert (
        excluded["sub-02", "ses-test"]
        == "dwi.bval: has 6 b-values but sub-02_ses-test_dwi.nii.gz has 7 volumes; regenerate the .bval with the NIfTI (one value per volume)"
    )
    assert cohort.summary() == "2 of 3 subjects excluded"


def test_cache_follows_inherited_tables_and_filters(tmp_path: Path) -> None:
    bids = ds114_like(tmp_path / "ds114")
    cache = tmp_path / "cache"
    assert len(load_cohort(bids.root, cache, "diagnosis", BOTH).rows) == 6
    write_table(bids.path("dwi.bval"), [BVALS[:6]])  # only a file above every subject changes
    assert load_cohort(bids.root, cache, "diagnosis", BOTH).rows.empty
    write_table(bids.path("dwi.bval"), [BVALS])
    assert len(load_cohort(bids.root, cache, "diagnosis", BOTH).rows) == 6
    filtered = load_cohort(bids.root, cache, "diagnosis", BOTH, bids_filters={"dwi": {"acq": "b3000"}})
    assert filtered.rows.empty and filtered.problems[0].message == (
        "has no DWI matching bids_filters.dwi {'acq': 'b3000'} in any session (ses-retest, ses-test; "
        "found DWI: no acq-/dir- entity); change bids_filters, add it or remove it from modalities"
    )


def test_ds000117_sessions_without_the_modality_are_skipped_silently(tmp_path: Path) -> None:
    bids = ds000117_like(tmp_path / "ds000117")
    cohort = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert cohort.problems == [] and cohort.excluded.empty
    assert list(cohort.rows.key) == ["sub-01/ses-mri", "sub-02/ses-mri", "sub-03/ses-mri"]
    assert cohort.rows.iloc[0].t1w.endswith("sub-01_ses-mri_acq-mprage_T1w.nii.gz")


def test_one_line_per_subject_without_the_modality_anywhere(tmp_path: Path) -> None:
    bids = ds000117_like(tmp_path / "ds000117", n=4)
    for path in [p for p in bids.path("sub-04/ses-mri").rglob("*") if p.is_file()]:
        path.unlink()
    bids.t1w("sub-03", "ses-meg")  # sub-03: T1w in both sessions, DWI only in ses-mri: ses-meg skipped
    bids.path("sub-02/ses-mri/anat/sub-02_ses-mri_acq-mprage_T1w.nii.gz").unlink()
    bids.t1w("sub-02", "ses-meg")  # sub-02: T1w and DWI, but never in one session
    cohort = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert format_problems(cohort.problems).splitlines() == [
        "sub-02: has no session with DWI and T1w together (DWI in ses-mri; T1w in ses-meg); a row needs them all in one session, or fewer modalities",
        "sub-04: has no DWI and no T1w in any session (ses-meg, ses-mri); add it or remove it from modalities",
    ]
    assert cohort.excluded[["participant_id", "session"]].values.tolist() == [["sub-02", ""], ["sub-04", ""]]
    assert list(cohort.rows.key) == ["sub-01/ses-mri", "sub-03/ses-mri"]
    assert cohort.summary() == "2 of 4 subjects excluded"


def test_several_acquisitions_stop_with_one_line_until_chosen(tmp_path: Path) -> None:
    bids = ds000117_like(tmp_path / "ds000117")
    bids.t1w("sub-02", "ses-mri", "acq-flash")
    with pytest.raises(NeuropeftError) as error:
        load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert str(error.value) == (
        "1 (subject, session) have several T1w acquisitions (e.g. sub-02/ses-mri); choices: acq-flash, acq-mprage; "
        "choose one with bids_filters, e.g. bids_filters: {t1w: {acq: flash}} (null selects files without that entity)"
    )
    assert (
        len(load_cohort(bids.root, tmp_path / "cache", "diagnosis", ["dwi"]).rows) == 3
    )  # T1w not needed: no choice to make
    chosen = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH, bids_filters={"t1w": {"acq": "flash"}})
    assert list(chosen.rows.t1w) == [str(bids.path("sub-02/ses-mri/anat/sub-02_ses-mri_acq-flash_T1w.nii.gz"))]
    assert [p.path_or_subject for p in chosen.problems] == ["sub-01", "sub-03"]  # no flash T1w anywhere


def test_json_sidecars_are_inherited_and_checked(tmp_path: Path) -> None:
    bids, subjects = with_participants(tmp_path / "bids", 2)
    for sub in subjects:
        bids.subject(sub)
    bids.path("dwi.json").write_text('{"PhaseEncodingDirection": "j-"}')
    bids.path("sub-02/sub-02_dwi.json").write_text('{"PhaseEncodingDirection": "j"')
    cohort = load_cohort(bids.root, tmp_path / "cache", "diagnosis", BOTH)
    assert cohort.rows[["participant_id", "dwi_json", "t1w_json"]].values.tolist() == [
        ["sub-01", str(bids.path("dwi.json")), ""]
    ]
    (problem,) = cohort.problems
    assert problem.path_or_subject == str(bids.path("sub-02/sub-02_dwi.json")) and problem.message.startswith(
        "is not valid JSON"
    )


def test_real_dataset_with_derivatives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The 10 real IXI heads (T1w only, derivatives/ inside the dataset): 10 subjects, nothing excluded."""
    if not IXI10.is_dir():
        pytest.skip(f"{IXI10} is not here (set NEUROPEFT_REAL_DATA)")
    out = tmp_path / "out"
    assert (
        main(
            [
                "validate-cohort",
                "--bids-dir",
                str(IXI10),
                "--target",
                "age",
                "--modalities",
                "t1w",
                "--site-column",
                "site",
                "--out-cohort",
                str(out / "cohort.tsv"),
                "--out-excluded",
                str(out / "excluded.tsv"),
            ]
        )
        == 0
    )
    cohort = pd.read_csv(out / "cohort.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(cohort) == 10 and cohort.participant_id.str.startswith("sub-IXI").all()
    assert not cohort.t1w.str.contains("derivatives").any() and (cohort.dwi == "").all()
    assert "10 row(s) kept, 0 excluded" in capsys.readouterr().err


def test_validate_reports_the_count_first_and_takes_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bids = ds000117_like(tmp_path / "ds000117")
    bids.path("sub-03/ses-mri/dwi/sub-03_ses-mri_dwi.bval").write_bytes(b"")
    bids.t1w("sub-01", "ses-mri", "acq-flash")
    out = tmp_path / "out"
    command = [
        "validate-cohort",
        "--bids-dir",
        str(bids.root),
        "--target",
        "diagnosis",
        "--modalities",
        "dwi",
        "t1w",
        "--out-cohort",
        str(out / "cohort.tsv"),
        "--out-excluded",
        str(out / "excluded.tsv"),
    ]
    assert main(command) == 1
    assert "have several T1w acquisitions" in capsys.readouterr().err
    assert main([*command, "--bids-filters", '{"t1w": {"acq": "mprage"}}']) == 0
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0] == f"neuropeft validate-cohort: 1 of 3 subjects excluded (reasons below and in {out / 'excluded.tsv'})"
    )
    assert main([*command, "--bids-filters", "{dwi"]) == 1
    assert "--bids-filters '{dwi' is not JSON" in capsys.readouterr().err
