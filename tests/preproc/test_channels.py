"""combine-channels concatenates modality volumes on one grid and refuses mismatched grids."""

from __future__ import annotations

import json
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


def test_an_absent_modality_is_zeros_at_its_place_with_resamples_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t1w, dwi = rng.random((4, 5, 6)) + 1, rng.random((4, 5, 6, 2)) + 1
    t1w_path = _save(tmp_path / "sub-02_space-X_desc-t1w_model.nii.gz", t1w, np.eye(4))
    (tmp_path / "sub-02_space-X_desc-t1w_model.json").write_text(
        '{"channels": ["sub-02_desc-brain_T1w.nii.gz:zscore"]}'
    )
    out = tmp_path / "sub-02_space-X_desc-combined_model.nii.gz"
    args = ["combine-channels", "--volumes", str(t1w_path), "--modalities", "dwi", "t1w", "--absent", "dwi:2"]
    assert main([*args, "--out", str(out)]) == 0
    data = np.asarray(nib.load(out).dataobj)
    assert data.shape == (4, 5, 6, 3)
    assert not data[..., :2].any()  # dwi comes first in --modalities
    np.testing.assert_allclose(data[..., 2], t1w, rtol=1e-6)
    sidecar = json.loads((tmp_path / "sub-02_space-X_desc-combined_model.json").read_text())
    assert sidecar["channels"] == [
        "sub-02_model-DTI_FA.nii.gz:fa",
        "sub-02_model-DTI_MD.nii.gz:md",
        "sub-02_desc-brain_T1w.nii.gz:zscore",
    ]
    assert sidecar["absent"] == ["dwi"]
    # the same order when the modality is present: dwi's two channels, then the t1w's
    dwi_path = _save(tmp_path / "sub-01_space-X_desc-dwi_model.nii.gz", dwi, np.eye(4))
    (tmp_path / "sub-01_space-X_desc-dwi_model.json").write_text(
        '{"channels": ["sub-01_model-DTI_FA.nii.gz:fa", "sub-01_model-DTI_MD.nii.gz:md"]}'
    )
    image, names = combine_channels([dwi_path, t1w_path])
    np.testing.assert_allclose(np.asarray(image.dataobj)[..., 2], t1w, rtol=1e-6)
    assert [n.replace("sub-01", "sub-02") for n in names] == sidecar["channels"]


def test_absent_last_in_order_goes_last(tmp_path: Path) -> None:
    dwi = _save(tmp_path / "sub-01_space-X_desc-dwi_model.nii.gz", np.ones((4, 5, 6, 2)), np.eye(4))
    image, names = combine_channels([dwi], ["dwi", "t1w"], {"t1w": 1}, "sub-01")
    data = np.asarray(image.dataobj)
    assert data.shape == (4, 5, 6, 3) and data[..., :2].all() and not data[..., 2].any()
    assert names[-1] == "sub-01_desc-brain_T1w.nii.gz:zscore"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--absent", "dwi"], "is not MODALITY:CHANNELS"),
        (["--absent", "dwi:2"], "--absent needs --modalities"),
        (["--modalities", "t1w", "--absent", "dwi:2"], "needs one volume per other modality"),
    ],
)
def test_bad_absent_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    t1w = _save(tmp_path / "t1w.nii.gz", np.ones((4, 5, 6)), np.eye(4))
    assert main(["combine-channels", "--volumes", str(t1w), *extra, "--out", str(tmp_path / "o.nii.gz")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and fragment in error
