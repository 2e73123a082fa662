"""skullstrip-dwi / skullstrip-t1w against the demo's true brain masks; implausible masks refused."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main

SUBJECT = "sub-002"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def _true_mask(demo, modality: str) -> np.ndarray:
    return np.asarray(nib.load(demo.truth / SUBJECT / f"{SUBJECT}_{modality}_brainmask.nii.gz").dataobj) > 0


def _dwi(demo) -> tuple[Path, Path]:
    dwi = demo.bids / SUBJECT / "dwi" / f"{SUBJECT}_dwi.nii.gz"
    return dwi, dwi.with_name(f"{SUBJECT}_dwi.bval")


def test_skullstrip_dwi_matches_truth(tiny_demo, tmp_path: Path) -> None:
    dwi, bval = _dwi(tiny_demo)
    mask_path, b0_path = tmp_path / "mask.nii.gz", tmp_path / "b0.nii.gz"
    assert (
        cli_main(
            [
                "skullstrip-dwi",
                "--dwi",
                str(dwi),
                "--bval",
                str(bval),
                "--out-mask",
                str(mask_path),
                "--out-meanb0",
                str(b0_path),
            ]
        )
        == 0
    )
    mask = np.asarray(nib.load(mask_path).dataobj)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert _dice(mask > 0, _true_mask(tiny_demo, "dwi")) >= 0.90
    b0 = np.asarray(nib.load(b0_path).dataobj)
    assert np.all(b0[mask == 0] == 0) and b0[mask > 0].mean() > 0
    sidecar = json.loads((tmp_path / "mask.json").read_text())
    assert sidecar["step"] == "skullstrip-dwi" and sidecar["settings"]["median_radius"] == 3
    assert 800 <= sidecar["brain_volume_ml"] <= 2500


def test_skullstrip_t1w_matches_truth(tiny_demo, tmp_path: Path) -> None:
    t1w = tiny_demo.bids / SUBJECT / "anat" / f"{SUBJECT}_T1w.nii.gz"
    mask_path, brain_path = tmp_path / "mask.nii.gz", tmp_path / "brain.nii.gz"
    assert (
        cli_main(["skullstrip-t1w", "--t1w", str(t1w), "--out-mask", str(mask_path), "--out-brain", str(brain_path)])
        == 0
    )
    mask = np.asarray(nib.load(mask_path).dataobj) > 0
    assert _dice(mask, _true_mask(tiny_demo, "T1w")) >= 0.90
    brain = np.asarray(nib.load(brain_path).dataobj)
    assert np.all(brain[~mask] == 0)
    assert json.loads((tmp_path / "brain.json").read_text())["step"] == "skullstrip-t1w"


def test_implausible_volume_is_refused_without_output(
    tiny_demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dwi, bval = _dwi(tiny_demo)
    out = tmp_path / "out"
    code = cli_main(
        [
            "skullstrip-dwi",
            "--dwi",
            str(dwi),
            "--bval",
            str(bval),
            "--out-mask",
            str(out / "m.nii.gz"),
            "--out-meanb0",
            str(out / "b.nii.gz"),
            "--settings",
            json.dumps({"max_brain_ml": 300}),
        ]
    )
    assert code == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(dwi) in message and "max_brain_ml" in message
    assert not out.exists()


def test_nan_dwi_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = np.random.default_rng(1).random((12, 12, 12, 3), dtype=np.float32)
    data[1, 1, 1, 2] = np.inf
    dwi = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), dwi)
    (tmp_path / "dwi.bval").write_text("0 1000 1000\n")
    code = cli_main(
        [
            "skullstrip-dwi",
            "--dwi",
            str(dwi),
            "--bval",
            str(tmp_path / "dwi.bval"),
            "--out-mask",
            str(tmp_path / "m.nii.gz"),
            "--out-meanb0",
            str(tmp_path / "b.nii.gz"),
        ]
    )
    assert code == 1
    message = capsys.readouterr().err
    assert str(dwi) in message and "NaN/Inf" in message
    assert not (tmp_path / "m.nii.gz").exists()


def test_blank_t1w_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t1w = tmp_path / "blank.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.eye(4)), t1w)
    code = cli_main(
        [
            "skullstrip-t1w",
            "--t1w",
            str(t1w),
            "--out-mask",
            str(tmp_path / "m.nii.gz"),
            "--out-brain",
            str(tmp_path / "b.nii.gz"),
        ]
    )
    assert code == 1 and "blank/constant" in capsys.readouterr().err
    assert not (tmp_path / "m.nii.gz").exists()


def test_template_method_still_matches_truth(tiny_demo, tmp_path: Path) -> None:
    t1w = tiny_demo.bids / SUBJECT / "anat" / f"{SUBJECT}_T1w.nii.gz"
    mask_path = tmp_path / "mask.nii.gz"
    assert (
        cli_main(
            [
                "skullstrip-t1w",
                "--t1w",
                str(t1w),
                "--out-mask",
                str(mask_path),
                "--out-brain",
                str(tmp_path / "brain.nii.gz"),
                "--settings",
                json.dumps({"method": "template"}),
            ]
        )
        == 0
    )
    assert _dice(np.asarray(nib.load(mask_path).dataobj) > 0, _true_mask(tiny_demo, "T1w")) >= 0.90
    assert json.loads((tmp_path / "mask.json").read_text())["settings"]["method"] == "template"


def test_unknown_t1w_method_is_one_line(tiny_demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t1w = tiny_demo.bids / SUBJECT / "anat" / f"{SUBJECT}_T1w.nii.gz"
    code = cli_main(
        [
            "skullstrip-t1w",
            "--t1w",
            str(t1w),
            "--out-mask",
            str(tmp_path / "m.nii.gz"),
            "--out-brain",
            str(tmp_path / "b.nii.gz"),
            "--settings",
            json.dumps({"method": "bet"}),
        ]
    )
    message = capsys.readouterr().err.strip()
    assert code == 1 and len(message.splitlines()) == 1 and "'bet'" in message and "deepbet" in message


@pytest.mark.parametrize(("median_radius", "numpass"), [(3, 2), (1, 1), (4, 4)])
def test_median_otsu_mask_equals_dipys(median_radius: int, numpass: int) -> None:
    from dipy.segment.mask import median_otsu

    from neuropeft.preproc.skullstrip import median_otsu_mask

    rng = np.random.default_rng(median_radius)
    ball = np.linalg.norm(np.indices((24, 28, 22)) - np.array([12, 14, 11])[:, None, None, None], axis=0) < 8
    b0 = (ball * 900.0 + rng.normal(0, 60, ball.shape) + 100).astype(np.float32)
    _, expected = median_otsu(b0, median_radius=median_radius, numpass=numpass)
    mine = median_otsu_mask(b0, median_radius, numpass)
    assert mine.any() and not mine.all()
    assert np.array_equal(mine, expected)
