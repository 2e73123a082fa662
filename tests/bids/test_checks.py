"""Header, gzip and gradient-table checks on single files."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from neuropeft.bids.checks import check_dwi, check_t1w, nifti_shape, read_bval, read_bvec
from tests.bids.bids_builder import BVALS, BVECS, write_nifti, write_table


def dwi_files(tmp_path: Path, volumes: int = 7) -> tuple[Path, Path, Path]:
    nii = write_nifti(tmp_path / "sub-01_dwi.nii.gz", (4, 4, 4, volumes))
    return nii, write_table(tmp_path / "sub-01_dwi.bval", [BVALS]), write_table(tmp_path / "sub-01_dwi.bvec", BVECS)


def test_valid_files_have_no_problems(tmp_path: Path) -> None:
    assert check_dwi(*dwi_files(tmp_path)) == []
    assert check_t1w(write_nifti(tmp_path / "t1.nii", (4, 4, 4))) == []
    assert check_t1w(write_nifti(tmp_path / "t1_4d.nii.gz", (4, 4, 4, 1))) == []


@pytest.mark.parametrize("name", ["image.nii.gz", "image.nii"])
def test_truncated_image_is_found(tmp_path: Path, name: str) -> None:
    path = write_nifti(tmp_path / name, (4, 4, 4, 7))
    path.write_bytes(path.read_bytes()[:-40])
    shape, problems = nifti_shape(path)
    assert len(problems) == 1 and "truncated" in problems[0].message
    assert problems[0].path_or_subject == str(path)


def test_multi_member_gzip_is_not_reported(tmp_path: Path) -> None:
    """A valid gzip of two members has a trailer that does not give the whole size: it is streamed."""
    plain = write_nifti(tmp_path / "image.nii", (4, 4, 4, 7)).read_bytes()
    path = tmp_path / "two_members.nii.gz"
    path.write_bytes(gzip.compress(plain[:1000]) + gzip.compress(plain[1000:]))
    shape, problems = nifti_shape(path)
    assert shape == (4, 4, 4, 7) and problems == []


def test_corrupt_gzip_stream_is_found(tmp_path: Path) -> None:
    """Header intact, compressed data cut short and padded: the trailer mismatches, streaming fails."""
    path = write_nifti(tmp_path / "image.nii.gz", (4, 4, 4, 7))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(8))
    _, problems = nifti_shape(path)
    assert len(problems) == 1 and "corrupt or truncated" in problems[0].message


def test_bval_on_several_lines_and_bvec_parse(tmp_path: Path) -> None:
    bvals, problems = read_bval(write_table(tmp_path / "a.bval", [[0, 1000], [1000]]))
    assert problems == [] and bvals.tolist() == [0, 1000, 1000]
    bvecs, problems = read_bvec(write_table(tmp_path / "a.bvec", BVECS))
    assert problems == [] and bvecs.shape == (3, 7)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1 0 0\n0 1\n0 0 1\n", "rows have different lengths (3, 2, 3)"),
        ("1 0 nan\n0 1 0\n0 0 1\n", "NaN or Inf"),
        ("", "is empty (0 bytes)"),
        ("\n\n", "holds no values"),
        ("1 0 x\n0 1 0\n0 0 1\n", "is not numeric (line 1 has 'x')"),
    ],
)
def test_bvec_format_problems(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "a.bvec"
    path.write_text(text)
    bvecs, problems = read_bvec(path)
    assert bvecs is None and len(problems) == 1 and fragment in problems[0].message


def test_b0_threshold(tmp_path: Path) -> None:
    """b <= 50 counts as b=0: a series whose lowest b is 50 is fine, 51 is not."""
    nii, bval, bvec = dwi_files(tmp_path)
    write_table(bval, [[50, 1000, 1000, 1000, 50, 1000, 1000]])
    assert check_dwi(nii, bval, bvec) == []
    write_table(bval, [[51, 1000, 1000, 1000, 51, 1000, 1000]])
    write_table(bvec, BVECS + np.array([[1], [0], [0]]) * (BVECS == 0).all(axis=0))  # no zero vectors
    (problem,) = check_dwi(nii, bval, bvec)
    assert problem.message.startswith("has no b=0 volume (no b-value <= 50)")
    assert problem.path_or_subject == str(bval)


def test_unit_length_tolerance(tmp_path: Path) -> None:
    nii, bval, bvec = dwi_files(tmp_path)
    vectors = BVECS.copy()
    vectors[:, 1] = [1.09, 0, 0]  # within 0.1 of unit length
    write_table(bvec, vectors)
    assert check_dwi(nii, bval, bvec) == []
    vectors[:, 1] = [1.2, 0, 0]
    write_table(bvec, vectors)
    (problem,) = check_dwi(nii, bval, bvec)
    assert "1 gradient direction(s) with b > 50 are not unit length (e.g. volume 1: |g| = 1.200)" in problem.message


def test_counts_compared_without_a_readable_image(tmp_path: Path) -> None:
    nii, bval, bvec = dwi_files(tmp_path)
    nii.write_bytes(b"not an image")
    write_table(bvec, np.asarray(BVECS)[:, :6])
    messages = [p.message for p in check_dwi(nii, bval, bvec)]
    assert any("cannot be read as NIfTI" in m for m in messages)
    assert any("has 6 directions but sub-01_dwi.bval has 7 b-values" in m for m in messages)
