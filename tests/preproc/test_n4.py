"""n4-t1w / n4-dwi against the demo's true bias fields; bad input refused without output."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main

SUBJECT = "sub-001"


def _truth(demo, name: str) -> np.ndarray:
    return np.asarray(nib.load(demo.truth / SUBJECT / f"{SUBJECT}_{name}.nii.gz").dataobj)


def _check_field(demo, field_path: Path, raw: np.ndarray, corrected: np.ndarray, modality: str) -> None:
    """The field correlates with the truth in the brain and the WM intensity spread falls to the noise floor."""
    brain = _truth(demo, f"{modality}_brainmask") > 0
    wm = _truth(demo, f"{modality}_wmmask") > 0
    true_field = _truth(demo, f"{modality}_biasfield")
    field = np.asarray(nib.load(field_path).dataobj)
    r = np.corrcoef(field[brain], true_field[brain])[0, 1]
    assert r >= 0.9, f"{modality} field correlation {r:.3f}"

    def cv(x: np.ndarray) -> float:
        return float(x[wm].std() / x[wm].mean())

    # the noise floor: WM spread after dividing by the true field; N4 must remove >= half the excess
    floor, before, after = cv(raw / true_field), cv(raw), cv(corrected)
    assert after - floor <= 0.5 * (before - floor), f"{modality} WM CV {before:.3f} -> {after:.3f} (floor {floor:.3f})"


def test_n4_t1w_recovers_true_field(tiny_demo, tmp_path: Path) -> None:
    t1w = tiny_demo.bids / SUBJECT / "anat" / f"{SUBJECT}_T1w.nii.gz"
    out, field = tmp_path / "t1w_n4.nii.gz", tmp_path / "t1w_field.nii.gz"
    assert cli_main(["n4-t1w", "--t1w", str(t1w), "--out", str(out), "--field", str(field)]) == 0
    raw = np.asarray(nib.load(t1w).dataobj, dtype=np.float32)
    corrected = nib.load(out)
    assert corrected.get_data_dtype() == np.float32 and np.allclose(corrected.affine, nib.load(t1w).affine)
    _check_field(tiny_demo, field, raw, np.asarray(corrected.dataobj), "T1w")
    sidecar = json.loads((tmp_path / "t1w_n4.json").read_text())
    assert sidecar["step"] == "n4-t1w" and sidecar["settings"]["spline_mm"] == 300
    assert set(sidecar["versions"]) >= {"antspyx", "dipy", "nibabel", "neuropeft"}
    assert (tmp_path / "t1w_field.json").exists()


def test_n4_dwi_recovers_true_field(tiny_demo, tmp_path: Path) -> None:
    dwi = tiny_demo.bids / SUBJECT / "dwi" / f"{SUBJECT}_dwi.nii.gz"
    bval = dwi.with_name(f"{SUBJECT}_dwi.bval")
    out, field = tmp_path / "dwi_n4.nii.gz", tmp_path / "dwi_field.nii.gz"
    settings = json.dumps({"iterations": [50, 50]})
    assert (
        cli_main(
            [
                "n4-dwi",
                "--dwi",
                str(dwi),
                "--bval",
                str(bval),
                "--out",
                str(out),
                "--field",
                str(field),
                "--settings",
                settings,
            ]
        )
        == 0
    )
    raw = np.asarray(nib.load(dwi).dataobj, dtype=np.float32)
    corrected = np.asarray(nib.load(out).dataobj)
    assert corrected.shape == raw.shape and corrected.dtype == np.float32
    # one field for every volume: the ratio raw/corrected is the same across volumes
    brain = _truth(tiny_demo, "dwi_brainmask") > 0
    ratio = raw[brain][:, [0, -1]] / corrected[brain][:, [0, -1]]
    assert np.allclose(ratio[:, 0], ratio[:, 1], rtol=1e-4)
    bvals = np.loadtxt(bval)
    _check_field(tiny_demo, field, raw[..., bvals == 0].mean(-1), corrected[..., bvals == 0].mean(-1), "dwi")
    assert json.loads((tmp_path / "dwi_n4.json").read_text())["settings"]["iterations"] == [50, 50]


@pytest.mark.parametrize("bad", ["constant", "nan"])
def test_bad_t1w_is_refused_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    data = np.full((20, 20, 20), 5.0, dtype=np.float32)
    if bad == "nan":
        data = np.random.default_rng(0).random((20, 20, 20), dtype=np.float32)
        data[3, 4, 5] = np.nan
    path = tmp_path / "bad.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    out = tmp_path / "out" / "n4.nii.gz"
    assert (
        cli_main(["n4-t1w", "--t1w", str(path), "--out", str(out), "--field", str(tmp_path / "out" / "f.nii.gz")]) == 1
    )
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(path) in message
    assert ("NaN" in message) if bad == "nan" else ("constant" in message)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_dwi_bval_mismatch_is_refused(tiny_demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dwi = tiny_demo.bids / SUBJECT / "dwi" / f"{SUBJECT}_dwi.nii.gz"
    bval = tmp_path / "short.bval"
    bval.write_text("0 1000 1000\n")
    assert (
        cli_main(
            [
                "n4-dwi",
                "--dwi",
                str(dwi),
                "--bval",
                str(bval),
                "--out",
                str(tmp_path / "o.nii.gz"),
                "--field",
                str(tmp_path / "f.nii.gz"),
            ]
        )
        == 1
    )
    assert str(bval) in capsys.readouterr().err
    assert not list(tmp_path.glob("*.nii.gz"))
