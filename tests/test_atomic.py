"""Atomic writes leave either the complete new file or nothing, with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuropeft.atomic import atomic_path, save_nifti, write_json


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_success_renames_and_keeps_suffix(tmp_path: Path) -> None:
    target = tmp_path / "img.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == ["img.nii.gz"]


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"k": 1})
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


def test_stored_gzip_is_a_valid_nifti_gz_with_the_same_voxels(tmp_path: Path) -> None:
    import gzip

    import nibabel as nib
    import numpy as np

    data = np.random.default_rng(0).normal(size=(20, 20, 20, 3)).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    save_nifti(img, tmp_path / "stored.nii.gz", compresslevel=0)
    save_nifti(img, tmp_path / "default.nii.gz")
    raw = (tmp_path / "stored.nii.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and len(raw) > data.nbytes  # gzip, not compressed
    assert gzip.decompress(raw) == gzip.decompress((tmp_path / "default.nii.gz").read_bytes())
    loaded = nib.load(tmp_path / "stored.nii.gz")
    assert np.array_equal(np.asarray(loaded.dataobj), data) and np.allclose(loaded.affine, img.affine)
