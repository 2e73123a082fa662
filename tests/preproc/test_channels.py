"""combine-channels concatenates modality volumes on one grid and refuses mismatched grids."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main
from neuropeft.preproc.channels import combine_channels


def _save(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    return path


def test_channels_concatenate_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dwi, t1w = rng.random((4, 5, 6, 2)), rng.random((4, 5, 6))
    paths = [_save(tmp_path / "dwi.nii.gz", dwi, np.eye(4)), _save(tmp_path / "t1w.nii.gz", t1w, np.eye(4))]
    image, names = combine_channels(paths)
    data = np.asarray(image.dataobj)
    assert data.shape == (4, 5, 6, 3)
    np.testing.assert_allclose(data[..., :2], dwi, rtol=1e-6)
    np.testing.assert_allclose(data[..., 2], t1w, rtol=1e-6)
    assert names == ["dwi.nii.gz", "t1w.nii.gz"]


def test_mismatched_grid_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shifted = np.eye(4)
    shifted[0, 3] = 2.0
    a = _save(tmp_path / "a.nii.gz", np.ones((4, 5, 6)), np.eye(4))
    b = _save(tmp_path / "b.nii.gz", np.ones((4, 5, 6)), shifted)
    out = tmp_path / "out.nii.gz"
    assert main(["combine-channels", "--volumes", str(a), str(b), "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "b.nii.gz" in error and "same model grid" in error
    assert not out.exists()
