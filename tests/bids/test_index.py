"""load_cohort: one case per check, all problems at once, sessions/runs, excluded rows, the cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuropeft.bids import checks
from neuropeft.bids.index import EXCLUDED_COLUMNS, ROW_COLUMNS, load_cohort
from neuropeft.bids.problems import format_problems
from neuropeft.errors import NeuropeftError
from tests.bids.bids_builder import BVECS, Bids, write_nifti, write_table

BOTH = ["dwi", "t1w"]
DWI = "sub-01/dwi/sub-01_dwi"


def set_participants_cell(bids: Bids, sub: str, column: str, value: str) -> None:
    table = pd.read_csv(bids.root / "participants.tsv", sep="\t", dtype=str, keep_default_na=False)
    table.loc[table.participant_id == sub, column] = value
    table.to_csv(bids.root / "participants.tsv", sep="\t", index=False)


def append_participant(bids: Bids, line: str) -> None:
    with open(bids.root / "participants.tsv", "a") as handle:
        handle.write(line + "\n")


def unit_columns(n: int) -> np.ndarray:
    return np.tile(np.array([[1.0], [0.0], [0.0]]), (1, n))


# (id, how to break sub-01 of a valid 2-subject dataset, who is named, message fragment)
CASES: list[tuple[str, Callable[[Bids], None], str, str]] = [
    (
        "t1w missing",
        lambda b: b.path("sub-01/anat/sub-01_T1w.nii.gz").unlink(),
        "sub-01",
        "has no T1w image (expected sub-01/anat/sub-01_T1w.nii.gz)",
    ),
    (
        "dwi missing",
        lambda b: b.path(f"{DWI}.nii.gz").unlink(),
        "sub-01",
        "has no DWI (expected sub-01/dwi/sub-01_dwi.nii.gz",
    ),
    ("bval missing", lambda b: b.path(f"{DWI}.bval").unlink(), f"{DWI}.bval", "does not exist; add it"),
    ("bvec missing", lambda b: b.path(f"{DWI}.bvec").unlink(), f"{DWI}.bvec", "does not exist; add it"),
    ("nifti empty", lambda b: b.path(f"{DWI}.nii.gz").write_bytes(b""), f"{DWI}.nii.gz", "is empty (0 bytes)"),
    (
        "t1w empty",
        lambda b: b.path("sub-01/anat/sub-01_T1w.nii.gz").write_bytes(b""),
        "sub-01/anat/sub-01_T1w.nii.gz",
        "is empty (0 bytes)",
    ),
    (
        "corrupt gzip",
        lambda b: b.path(f"{DWI}.nii.gz").write_bytes(b"\x1f\x8b" + os.urandom(300)),
        f"{DWI}.nii.gz",
        "cannot be read as NIfTI",
    ),
    (
        "not nifti",
        lambda b: b.path("sub-01/anat/sub-01_T1w.nii.gz").write_bytes(b"hello world" * 50),
        "sub-01/anat/sub-01_T1w.nii.gz",
        "cannot be read as NIfTI",
    ),
    (
        "truncated",
        lambda b: b.path(f"{DWI}.nii.gz").write_bytes(b.path(f"{DWI}.nii.gz").read_bytes()[:-30]),
        f"{DWI}.nii.gz",
        "truncated",
    ),
    (
        "broken symlink",
        lambda b: (b.path(f"{DWI}.nii.gz").unlink(), b.path(f"{DWI}.nii.gz").symlink_to("/nonexistent/annex/key")),
        f"{DWI}.nii.gz",
        "broken symlink",
    ),
    (
        "dwi 3d",
        lambda b: write_nifti(b.path(f"{DWI}.nii.gz"), (4, 4, 4)),
        f"{DWI}.nii.gz",
        "DWI must be 4D (x, y, z, volumes) but has shape (4, 4, 4)",
    ),
    (
        "t1w 4d",
        lambda b: write_nifti(b.path("sub-01/anat/sub-01_T1w.nii.gz"), (4, 4, 4, 2)),
        "sub-01/anat/sub-01_T1w.nii.gz",
        "T1w must be one 3D volume",
    ),
    (
        "bval count",
        lambda b: write_table(b.path(f"{DWI}.bval"), [[0, 1000, 1000, 1000, 0, 1000]]),
        f"{DWI}.bval",
        "has 6 b-values but sub-01_dwi.nii.gz has 7 volumes",
    ),
    (
        "bvec count",
        lambda b: write_table(b.path(f"{DWI}.bvec"), BVECS[:, :6]),
        f"{DWI}.bvec",
        "has 6 directions but sub-01_dwi.nii.gz has 7 volumes",
    ),
    (
        "bvec transposed",
        lambda b: write_table(b.path(f"{DWI}.bvec"), BVECS.T),
        f"{DWI}.bvec",
        "has 7 rows of 3 values (transposed)",
    ),
    (
        "bvec 2 rows",
        lambda b: write_table(b.path(f"{DWI}.bvec"), BVECS[:2]),
        f"{DWI}.bvec",
        "has 2 rows of 7 values; it must be 3 rows",
    ),
    (
        "bvec non-numeric",
        lambda b: b.path(f"{DWI}.bvec").write_text("0 1 0 0 0 1 0\n0 0 1 0 0 0 one\n0 0 0 1 0 0 0\n"),
        f"{DWI}.bvec",
        "is not numeric (line 2 has 'one')",
    ),
    (
        "bval non-numeric",
        lambda b: b.path(f"{DWI}.bval").write_text("0 1000 1000 b1000 0 1000 1000\n"),
        f"{DWI}.bval",
        "is not numeric (line 1 has 'b1000')",
    ),
    (
        "bval negative",
        lambda b: write_table(b.path(f"{DWI}.bval"), [[0, -1000, 1000, 1000, 0, 1000, 1000]]),
        f"{DWI}.bval",
        "negative b-values",
    ),
    (
        "bvec not unit",
        lambda b: write_table(b.path(f"{DWI}.bvec"), BVECS * 0.5),
        f"{DWI}.bvec",
        "are not unit length (e.g. volume 1: |g| = 0.500)",
    ),
    (
        "bvec zero",
        lambda b: write_table(b.path(f"{DWI}.bvec"), BVECS * (np.arange(7) != 3)),
        f"{DWI}.bvec",
        "1 volume(s) with b > 50 have an all-zero gradient direction (volumes 3",
    ),
    (
        "no b0",
        lambda b: (
            write_table(b.path(f"{DWI}.bval"), [[1000] * 7]),
            write_table(b.path(f"{DWI}.bvec"), unit_columns(7)),
        ),
        f"{DWI}.bval",
        "has no b=0 volume",
    ),
    (
        "target empty",
        lambda b: set_participants_cell(b, "sub-01", "diagnosis", ""),
        "sub-01",
        "has no value for the target 'diagnosis'",
    ),
    (
        "target n/a",
        lambda b: set_participants_cell(b, "sub-01", "diagnosis", "n/a"),
        "sub-01",
        "has no value for the target 'diagnosis'",
    ),
    (
        "no folder",
        lambda b: shutil.rmtree(b.path("sub-01")),
        "sub-01",
        "is in participants.tsv but has no folder sub-01/",
    ),
    (
        "no participants row",
        lambda b: set_participants_cell(b, "sub-01", "participant_id", "sub-09"),
        "sub-01",
        "has images but no row in participants.tsv",
    ),
    (
        "duplicate id",
        lambda b: append_participant(b, "sub-01\t1\t50\tA"),
        "sub-01",
        "participant_id appears 2 times in participants.tsv (lines 2, 4)",
    ),
    (
        "id underscore",
        lambda b: set_participants_cell(b, "sub-01", "participant_id", "sub-0_1"),
        "sub-0_1",
        "not a valid BIDS label",
    ),
    ("id dot dot", lambda b: append_participant(b, "sub-../x\t1\t50\tA"), "sub-../x", "not a valid BIDS label"),
    ("id space", lambda b: append_participant(b, "sub-a b\t1\t50\tA"), "sub-a b", "not a valid BIDS label"),
    ("id no prefix", lambda b: append_participant(b, "07\t1\t50\tA"), "07", "must start with 'sub-'"),
    ("folder label", lambda b: b.subject("sub-0_3"), "sub-0_3", "subject ID 'sub-0_3' is not a valid BIDS label"),
    (
        "session label",
        lambda b: (shutil.rmtree(b.path("sub-01")), b.subject("sub-01", "ses-a_b")),
        "sub-01/ses-a_b",
        "session ID 'ses-a_b' is not a valid BIDS label",
    ),
    (
        "name mismatch",
        lambda b: b.path("sub-01/anat/sub-01_T1w.nii.gz").rename(b.path("sub-01/anat/sub-02_T1w.nii.gz")),
        "sub-01/anat/sub-02_T1w.nii.gz",
        "file name does not match its folder sub-01",
    ),
]


@pytest.mark.parametrize(("mutate", "who", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_check(
    make_bids: Callable[..., Bids], cache_dir: Path, mutate: Callable[[Bids], None], who: str, fragment: str
) -> None:
    bids = make_bids(2)
    mutate(bids)
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    named = [p for p in cohort.problems if fragment in p.message]
    assert len(named) == 1, format_problems(cohort.problems)
    expected = {who, str(bids.root / who)}  # subjects/IDs by name, files by absolute path
    assert named[0].path_or_subject in expected
    assert "; " in named[0].message  # every message carries its fix after "; "
    assert "sub-02" in set(cohort.rows.participant_id)  # the intact subject is kept
    broken = set(cohort.excluded.participant_id) & {"sub-01", who}  # the broken one is excluded
    assert broken and not broken & set(cohort.rows.participant_id)


def test_valid_dataset(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(3)
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert cohort.problems == [] and cohort.excluded.empty
    assert list(cohort.rows.columns) == ROW_COLUMNS and list(cohort.excluded.columns) == EXCLUDED_COLUMNS
    first = cohort.rows.iloc[0].to_dict()
    assert first == {
        "participant_id": "sub-01",
        "session": "",
        "key": "sub-01",
        "stem": "sub-01",
        "t1w": str(bids.root / "sub-01/anat/sub-01_T1w.nii.gz"),
        "dwi": str(bids.root / f"{DWI}.nii.gz"),
        "bval": str(bids.root / f"{DWI}.bval"),
        "bvec": str(bids.root / f"{DWI}.bvec"),
        "t1w_json": "",
        "dwi_json": "",
        "target": "0",
        "site": "A",
    }
    assert cohort.target_kind == "binary"


def test_only_required_modalities_are_checked(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    bids.path(f"{DWI}.bval").unlink()
    assert load_cohort(bids.root, cache_dir, "diagnosis", ["t1w"]).problems == []
    bids.path("sub-02/anat/sub-02_T1w.nii.gz").unlink()
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", ["dwi"])
    assert [p.path_or_subject for p in cohort.problems] == [str(bids.root / f"{DWI}.bval")]
    assert cohort.rows.iloc[0].t1w == "" and cohort.rows.iloc[0].participant_id == "sub-02"


class Renamed(Bids):
    """The dataset, with the cases' paths of sub-01 redirected to another subject."""

    def __init__(self, root: Path, sub: str) -> None:
        super().__init__(root)
        self.sub = sub

    def path(self, rel: str) -> Path:
        return super().path(rel.replace("sub-01", self.sub))


def test_many_problems_in_one_call(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(6)
    for index, (_, mutate, _, _) in enumerate(CASES[:22]):  # file and content checks, one subject each
        sub = f"sub-{index + 1:02d}"
        if index >= 6:
            bids.subject(sub)
            append_participant(bids, f"{sub}\t1\t50\tA")
        mutate(Renamed(bids.root, sub))
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    for index, (name, _, _who, fragment) in enumerate(CASES[:22]):
        sub = f"sub-{index + 1:02d}"
        hits = [p for p in cohort.problems if fragment.replace("sub-01", sub) in p.message.replace("sub-01", sub)]
        assert any(sub in p.path_or_subject for p in hits), name
    assert cohort.rows.empty
    assert len(cohort.excluded) == 22
    assert len(format_problems(cohort.problems).splitlines()) == len(cohort.problems)


def test_zero_byte_layout(tmp_path: Path, cache_dir: Path) -> None:
    """A BIDS layout of empty files (as in dry-run fixtures): every file is reported, once."""
    root = tmp_path / "bids"
    (root).mkdir()
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\t1\nsub-02\t0\n")
    files = []
    for sub in ("sub-01", "sub-02"):
        for rel in (f"anat/{sub}_T1w.nii.gz", f"dwi/{sub}_dwi.nii.gz", f"dwi/{sub}_dwi.bval", f"dwi/{sub}_dwi.bvec"):
            path = root / sub / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            files.append(str(path))
    cohort = load_cohort(root, cache_dir, "diagnosis", BOTH)
    assert sorted(p.path_or_subject for p in cohort.problems) == sorted(files)
    assert all("is empty (0 bytes)" in p.message for p in cohort.problems)
    assert cohort.rows.empty and list(cohort.excluded.participant_id) == ["sub-01", "sub-02"]


def test_sessions(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(1)
    shutil.rmtree(bids.path("sub-01"))
    for ses in ("ses-1", "ses-2", "ses-3"):
        bids.subject("sub-01", ses)
    bids.path("sub-01/ses-2/dwi/sub-01_ses-2_dwi.bvec").write_text("1 2 3\n")
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert list(cohort.rows.key) == ["sub-01/ses-1", "sub-01/ses-3"]
    assert list(cohort.rows.stem) == ["sub-01_ses-1", "sub-01_ses-3"]
    assert list(cohort.rows.session) == ["ses-1", "ses-3"]
    assert cohort.rows.iloc[1].dwi == str(bids.root / "sub-01/ses-3/dwi/sub-01_ses-3_dwi.nii.gz")
    assert cohort.excluded.values.tolist() == [
        [
            "sub-01",
            "ses-2",
            "sub-01/ses-2/dwi/sub-01_ses-2_dwi.bvec: has 1 rows of 3 values (transposed); BIDS wants 3 rows (x, y, z) of 1 values: transpose it",
        ]
    ]


def test_participant_problem_excludes_every_session(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    shutil.rmtree(bids.path("sub-01"))
    bids.subject("sub-01", "ses-1")
    bids.subject("sub-01", "ses-2")
    set_participants_cell(bids, "sub-01", "diagnosis", "")
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert len(cohort.problems) == 1
    assert cohort.excluded[["participant_id", "session"]].values.tolist() == [["sub-01", "ses-1"], ["sub-01", "ses-2"]]


@pytest.mark.parametrize(("policy", "run"), [("last", "2"), ("first", "1")])
def test_runs(make_bids: Callable[..., Bids], cache_dir: Path, policy: str, run: str) -> None:
    bids = make_bids(1)
    bids.t1w("sub-01", entities="run-1")
    bids.t1w("sub-01", entities="run-2")
    bids.path("sub-01/anat/sub-01_T1w.nii.gz").unlink()
    write_nifti(bids.path("sub-01/anat/sub-01_run-1_T1w.nii.gz"), (4, 4, 4, 3))  # only run 1 is bad
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, run_policy=policy)
    if run == "2":
        assert cohort.rows.iloc[0].t1w.endswith("sub-01_run-2_T1w.nii.gz") and cohort.problems == []
    else:
        assert cohort.rows.empty and "T1w must be one 3D volume" in cohort.problems[0].message


def test_excluded_reasons_and_site(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(3)
    bids.path(f"{DWI}.bval").unlink()
    bids.path(f"{DWI}.bvec").write_text("")
    set_participants_cell(bids, "sub-03", "diagnosis", "n/a")
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH, site_column="site")
    assert cohort.excluded.values.tolist() == [
        [
            "sub-01",
            "",
            f"{DWI}.bval: does not exist; add it or fix the path | {DWI}.bvec: is empty (0 bytes); "
            "replace it with the real file (re-run the conversion or re-download it)",
        ],
        [
            "sub-03",
            "",
            "has no value for the target 'diagnosis' in participants.tsv; fill it in or remove the participant's row",
        ],
    ]
    assert cohort.rows[["participant_id", "target", "site"]].values.tolist() == [["sub-02", "1", "B"]]


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda b: (b.root / "participants.tsv").unlink(), "participants.tsv not found"),
        (
            lambda b: (b.root / "participants.tsv").write_text("participant_id\tgroup\tage\nsub-01\t1\t3\n"),
            "no column 'diagnosis' for the target (columns: participant_id, group, age)",
        ),
        (lambda b: shutil.rmtree(b.root), "does not exist; set bids_dir"),
    ],
)
def test_fatal_errors(
    make_bids: Callable[..., Bids], cache_dir: Path, setup: Callable[[Bids], None], fragment: str
) -> None:
    bids = make_bids(1)
    setup(bids)
    with pytest.raises(NeuropeftError) as error:
        load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_bad_modalities(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    with pytest.raises(NeuropeftError, match="modalities"):
        load_cohort(make_bids(1).root, cache_dir, "diagnosis", ["fmri"])


class CountingReads:
    """Stands in for checks.nifti_shape (where every NIfTI header is read): counts calls per file name,
    optionally refusing all of them."""

    def __init__(self, allowed: bool = True) -> None:
        self.real, self.allowed, self.names = checks.nifti_shape, allowed, []

    def __call__(self, path: Path) -> object:
        self.names.append(Path(path).name)
        if not self.allowed:
            raise AssertionError(f"header of {path} read on a cache hit")
        return self.real(path)


def test_cache_is_reused(make_bids: Callable[..., Bids], cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bids = make_bids(3)
    bids.path(f"{DWI}.bvec").write_text("1 0 0\n")
    first = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert len(list(cache_dir.glob("bids-index-*.json"))) == 1
    monkeypatch.setattr(checks, "nifti_shape", CountingReads(allowed=False))
    second = load_cohort(str(bids.root), str(cache_dir), "diagnosis", ["t1w", "dwi"])
    pd.testing.assert_frame_equal(first.rows, second.rows)
    pd.testing.assert_frame_equal(first.excluded, second.excluded)
    assert first.problems == second.problems and first.target_kind == second.target_kind


def test_cache_invalidated_by_content(
    make_bids: Callable[..., Bids], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bids = make_bids(3)
    assert load_cohort(bids.root, cache_dir, "diagnosis", BOTH).problems == []
    counting = CountingReads()
    monkeypatch.setattr(checks, "nifti_shape", counting)

    write_nifti(bids.path("sub-02/anat/sub-02_T1w.nii.gz"), (4, 4, 4, 2))  # new size
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert [p.path_or_subject for p in cohort.problems] == [str(bids.path("sub-02/anat/sub-02_T1w.nii.gz"))]
    assert counting.names == ["sub-02_T1w.nii.gz"]  # unchanged files' header checks are reused

    write_nifti(bids.path("sub-02/anat/sub-02_T1w.nii.gz"), (4, 4, 4))
    bval = bids.path("sub-03/dwi/sub-03_dwi.bval")
    text = bval.read_text()
    bval.write_text(text.replace("1000", "2000"))  # same size: only the mtime tells
    stat = bval.stat()
    os.utime(bval, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    counting.names.clear()
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert cohort.problems == [] and len(cohort.rows) == 3
    assert sorted(counting.names) == ["sub-02_T1w.nii.gz", "sub-03_dwi.nii.gz"]

    counting.names.clear()
    set_participants_cell(bids, "sub-01", "diagnosis", "")
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert list(cohort.rows.participant_id) == ["sub-02", "sub-03"] and counting.names == []

    counting.names.clear()
    bids.subject("sub-04")
    append_participant(bids, "sub-04\t1\t50\tA")
    cohort = load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    assert list(cohort.rows.participant_id) == ["sub-02", "sub-03", "sub-04"]
    assert sorted(counting.names) == ["sub-04_T1w.nii.gz", "sub-04_dwi.nii.gz"]


def test_cache_separates_arguments(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    set_participants_cell(bids, "sub-01", "age", "")
    assert len(load_cohort(bids.root, cache_dir, "diagnosis", BOTH).rows) == 2
    assert len(load_cohort(bids.root, cache_dir, "age", BOTH).rows) == 1
    assert len(load_cohort(bids.root, cache_dir, "diagnosis", BOTH).rows) == 2
    assert len(list(cache_dir.glob("bids-index-*.json"))) == 2


def test_corrupt_cache_file_is_rebuilt(make_bids: Callable[..., Bids], cache_dir: Path) -> None:
    bids = make_bids(2)
    load_cohort(bids.root, cache_dir, "diagnosis", BOTH)
    (cache_file,) = cache_dir.glob("bids-index-*.json")
    cache_file.write_text("{ not json")
    assert len(load_cohort(bids.root, cache_dir, "diagnosis", BOTH).rows) == 2


def test_demo_cohort_is_valid(tiny_demo: object, tmp_path: Path) -> None:
    """The built-in demo cohort passes every check, with its targets and sites."""
    cohort = load_cohort(tiny_demo.bids, tmp_path / "cache", "diagnosis", BOTH)  # type: ignore[attr-defined]
    assert cohort.problems == [], format_problems(cohort.problems)
    assert list(cohort.rows.participant_id) == tiny_demo.subjects  # type: ignore[attr-defined]
    truth = pd.read_csv(tiny_demo.truth / "labels.tsv", sep="\t", dtype=str)  # type: ignore[attr-defined]
    assert cohort.rows.target.tolist() == truth.diagnosis.tolist()
    assert cohort.rows.site.tolist() == truth.site.tolist()
    assert cohort.target_kind == "binary"
