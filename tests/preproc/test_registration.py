"""register against the demo's true pose; transforms JSON contract; failures refused."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.imageio import to_ants
from neuropeft.preproc.registration import load_transforms, pose_error_mm
from neuropeft.preproc.template import template_brain_mask

SUBJECT = "sub-003"


def register_outputs(prefix: Path, suffix: str = "T1w") -> list[str]:
    """register's output options, named as the workflow names them (``PREFIX_transforms.json`` ...)."""
    registered = f"{prefix}_space-MNI152NLin2009aSym_{suffix}.nii.gz"
    return ["--out-transforms", f"{prefix}_transforms.json", "--out-registered", registered]


def _brain(demo, modality: str, tmp_path: Path) -> Path:
    """The subject's T1w or mean b=0 times its true brain mask (isolates registration from skull stripping)."""
    mask = np.asarray(nib.load(demo.truth / SUBJECT / f"{SUBJECT}_{modality}_brainmask.nii.gz").dataobj) > 0
    if modality == "T1w":
        img = nib.load(demo.bids / SUBJECT / "anat" / f"{SUBJECT}_T1w.nii.gz")
        data = np.asarray(img.dataobj, dtype=np.float32)
    else:
        img = nib.load(demo.bids / SUBJECT / "dwi" / f"{SUBJECT}_dwi.nii.gz")
        bvals = np.loadtxt(demo.bids / SUBJECT / "dwi" / f"{SUBJECT}_dwi.bval")
        data = np.asarray(img.dataobj, dtype=np.float32)[..., bvals == 0].mean(-1)
    path = tmp_path / f"{modality}_brain.nii.gz"
    nib.save(nib.Nifti1Image(data * mask, img.affine), path)
    return path


@pytest.mark.parametrize("modality", ["t1w", "dwi"])
def test_register_recovers_true_pose(tiny_demo, tmp_path: Path, modality: str) -> None:
    import ants

    moving = _brain(tiny_demo, "T1w" if modality == "t1w" else "dwi", tmp_path)
    suffix = "T1w" if modality == "t1w" else "b0"
    outputs = register_outputs(tmp_path / "reg" / "sub", suffix)
    assert cli_main(["register", "--moving", str(moving), "--modality", modality, *outputs]) == 0
    record = json.loads((tmp_path / "reg" / "sub_transforms.json").read_text())
    assert record["forward"] == {"transformlist": ["sub_fwd_0GenericAffine.mat"], "whichtoinvert": [False]}
    assert record["inverse"] == {"transformlist": ["sub_fwd_0GenericAffine.mat"], "whichtoinvert": [True]}
    assert record["similarity"]["nmi"] > 1.05
    pose = tiny_demo.truth / SUBJECT / f"{SUBJECT}_pose.json"
    error = pose_error_mm(tmp_path / "reg" / "sub_transforms.json", pose, template_brain_mask(2))
    assert error <= 2.0, f"{modality} pose error {error:.2f} mm > one 2 mm voxel"
    registered = nib.load(tmp_path / "reg" / f"sub_space-MNI152NLin2009aSym_{suffix}.nii.gz")
    assert registered.shape == template_brain_mask(2).shape
    assert (
        json.loads((tmp_path / "reg" / f"sub_space-MNI152NLin2009aSym_{suffix}.json").read_text())["step"] == "register"
    )
    # the inverse list brings the template brain mask onto the subject's true mask
    transforms = load_transforms(tmp_path / "reg" / "sub_transforms.json")
    subject = ants.image_read(str(moving))
    template_mask = to_ants(template_brain_mask(2))
    back = (
        ants.apply_transforms(
            fixed=subject,
            moving=template_mask,
            transformlist=transforms["inverse"]["transformlist"],
            whichtoinvert=transforms["inverse"]["whichtoinvert"],
        ).numpy()
        >= 0.5
    )
    truth = np.asarray(nib.load(moving).dataobj) != 0
    assert 2 * (back & truth).sum() / (back.sum() + truth.sum()) >= 0.9


def test_pose_error_detects_a_wrong_transform(tiny_demo, tmp_path: Path) -> None:
    """The identity transform is far from the demo's pose: the measure can fail."""
    import ants

    identity = ants.create_ants_transform(transform_type="AffineTransform", dimension=3)
    ants.write_transform(identity, str(tmp_path / "id.mat"))
    record = {
        "forward": {"transformlist": ["id.mat"], "whichtoinvert": [False]},
        "inverse": {"transformlist": ["id.mat"], "whichtoinvert": [True]},
    }
    (tmp_path / "t.json").write_text(json.dumps(record))
    pose = tiny_demo.truth / SUBJECT / f"{SUBJECT}_pose.json"
    assert pose_error_mm(tmp_path / "t.json", pose, template_brain_mask(2)) > 3.0


def test_syn_writes_warp_files(tiny_demo, tmp_path: Path) -> None:
    moving = _brain(tiny_demo, "T1w", tmp_path)
    settings = json.dumps({"transform": "SyN", "voxel_mm": 3, "syn_iterations": [20, 0]})
    assert (
        cli_main(
            [
                "register",
                "--moving",
                str(moving),
                "--modality",
                "t1w",
                *register_outputs(tmp_path / "s"),
                "--settings",
                settings,
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "s_transforms.json").read_text())
    assert record["forward"] == {
        "transformlist": ["s_fwd_1Warp.nii.gz", "s_fwd_0GenericAffine.mat"],
        "whichtoinvert": [False, False],
    }
    assert record["inverse"] == {
        "transformlist": ["s_fwd_0GenericAffine.mat", "s_inv_1InverseWarp.nii.gz"],
        "whichtoinvert": [True, False],
    }
    assert all(
        (tmp_path / name).exists() for name in record["forward"]["transformlist"] + record["inverse"]["transformlist"]
    )
    pose = tiny_demo.truth / SUBJECT / f"{SUBJECT}_pose.json"
    assert pose_error_mm(tmp_path / "s_transforms.json", pose, template_brain_mask(3)) <= 3.0


@pytest.mark.parametrize("bad", ["constant", "nan"])
def test_bad_moving_image_is_refused_without_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    data = np.full((30, 30, 30), 7.0, np.float32)
    if bad == "nan":
        data[0, 0, 0] = np.nan
    moving = tmp_path / "moving.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), moving)
    assert (
        cli_main(["register", "--moving", str(moving), "--modality", "dwi", *register_outputs(tmp_path / "out" / "p")])
        == 1
    )
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and str(moving) in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_transform_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(
        [
            "register",
            "--moving",
            str(tmp_path / "x.nii.gz"),
            "--modality",
            "t1w",
            *register_outputs(tmp_path / "p"),
            "--settings",
            json.dumps({"transform": "Elastic"}),
        ]
    )
    assert code == 1 and "Elastic" in capsys.readouterr().err
