"""resample: model grid geometry, registration applied, per-channel normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.resample import ResampleSettings, model_grid, resample_to_grid
from neuropeft.preproc.template import template_brain_mask, template_t1w

SHIFT_RAS = np.array([6.0, -4.0, 3.0])  # subject world = template world + SHIFT_RAS


@pytest.fixture(scope="module")
def subject(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 'subject' that is the template translated by SHIFT_RAS, with its ANTs forward transform."""
    import ants

    root = tmp_path_factory.mktemp("resample")
    t1 = template_t1w(2)
    affine = t1.affine.copy()
    affine[:3, 3] += SHIFT_RAS
    mask = np.asarray(template_brain_mask(2).dataobj)
    nib.save(nib.Nifti1Image(np.asarray(t1.dataobj) * 3.0 + 50.0 * mask, affine), root / "t1w.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), root / "mask.nii.gz")
    nib.save(nib.Nifti1Image(np.where(mask > 0, 0.4, 0.0).astype(np.float32), affine), root / "fa.nii.gz")
    nib.save(nib.Nifti1Image(np.where(mask > 0, 1.5e-3, 0.0).astype(np.float32), affine), root / "md.nii.gz")
    # ANTs forward transforms map fixed (template) points to moving (subject) points, in LPS
    tx = ants.create_ants_transform(transform_type="AffineTransform", translation=list(SHIFT_RAS * [-1, -1, 1]))
    ants.write_transform(tx, str(root / "fwd.mat"))
    identity = ants.create_ants_transform(transform_type="AffineTransform")
    ants.write_transform(identity, str(root / "identity.mat"))
    for name, matrix in (("transforms", "fwd.mat"), ("identity", "identity.mat")):  # the `register` contract
        record = {
            "voxel_mm": 2,
            "forward": {"transformlist": [matrix], "whichtoinvert": [False]},
            "inverse": {"transformlist": [matrix], "whichtoinvert": [True]},
            "similarity": {"nmi": 1.3},
        }
        (root / f"{name}.json").write_text(json.dumps(record))
    return {"root": root}


def test_model_grid_is_centred_on_template_brain() -> None:
    grid = model_grid(2, [96, 96, 96])
    assert grid.shape == (96, 96, 96)
    assert np.allclose(grid.affine[:3, :3], template_t1w(2).affine[:3, :3])
    brain = resample_to_grid(template_brain_mask(2), grid, "nearest") > 0.5
    assert brain.sum() == (np.asarray(template_brain_mask(2).dataobj) > 0).sum()  # nothing cropped
    inside = np.argwhere(brain)
    margin_lo, margin_hi = inside.min(axis=0), 95 - inside.max(axis=0)
    assert np.all(np.abs(margin_lo - margin_hi) <= 1)


def test_sam_med3d_grid_at_1_5_mm_holds_the_whole_template_brain_centred() -> None:
    grid = model_grid(1.5, [128, 128, 128])
    assert np.allclose(np.abs(np.diag(grid.affine)[:3]), 1.5)
    brain = resample_to_grid(template_brain_mask(1), grid, "nearest") > 0.5
    expected = (np.asarray(template_brain_mask(1).dataobj) > 0).sum() / 1.5**3
    assert abs(brain.sum() - expected) < 0.02 * expected  # nothing cropped (1 mm mask counted in 1.5 mm voxels)
    inside = np.argwhere(brain)
    margin_lo, margin_hi = inside.min(axis=0), 127 - inside.max(axis=0)
    assert np.all(margin_lo > 0) and np.all(margin_hi > 0)
    assert np.all(np.abs(margin_lo - margin_hi) <= 1)


def test_voxel_size_must_be_a_positive_number() -> None:
    with pytest.raises(NeuropeftError, match="voxel_mm 0 must be a positive number of mm"):
        ResampleSettings(voxel_mm=0)
    assert ResampleSettings(voxel_mm=1.5).voxel_mm == 1.5


def _run(
    subject: dict[str, Path],
    out: Path,
    images: list[str],
    settings: dict,
    transforms: str = "transforms.json",
    mask: bool = True,
) -> int:
    root = subject["root"]
    argv = [
        "resample",
        "--transforms-json",
        str(root / transforms),
        "--out",
        str(out),
        "--settings",
        json.dumps(settings),
    ]
    for name in images:
        argv += ["--image", str(root / name)]
    if mask:
        argv += ["--mask", str(root / "mask.nii.gz")]
    return cli_main(argv)


def test_t1w_zscore_and_registration(subject: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub-001_model.nii.gz"
    assert _run(subject, out, ["t1w.nii.gz"], {"normalise": ["zscore"], "shape": [80, 96, 80]}) == 0
    img = nib.load(out)
    assert img.shape == (80, 96, 80, 1) and img.get_data_dtype() == np.float32
    assert np.allclose(img.affine, model_grid(2, [80, 96, 80]).affine)
    data = img.get_fdata()[..., 0]
    template = resample_to_grid(template_t1w(2), model_grid(2, [80, 96, 80]), "continuous")
    brain = resample_to_grid(template_brain_mask(2), model_grid(2, [80, 96, 80]), "nearest") > 0.5
    inside = data[brain]
    assert abs(inside.mean()) < 1e-3 and abs(inside.std() - 1.0) < 1e-3
    assert np.all(data[~brain] == 0)
    # the registration was applied: the subject lands back on the template
    assert np.corrcoef(inside, template[brain])[0, 1] > 0.98
    ident = tmp_path / "identity.nii.gz"
    assert (
        _run(
            subject,
            ident,
            ["t1w.nii.gz"],
            {"normalise": ["zscore"], "shape": [80, 96, 80]},
            "identity.json",
            mask=False,
        )
        == 0
    )
    unregistered = nib.load(ident).get_fdata()[..., 0]
    assert np.corrcoef(unregistered[brain], template[brain])[0, 1] < 0.9


def test_fa_md_channels(subject: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub-001_model.nii.gz"
    assert _run(subject, out, ["fa.nii.gz", "md.nii.gz"], {"interpolation": "nearestNeighbor"}) == 0
    data = nib.load(out).get_fdata()
    assert data.shape == (96, 96, 96, 2)
    brain = data[..., 0] > 0
    assert brain.sum() > 1000
    assert np.allclose(data[brain, 0], 0.4, atol=1e-6)
    assert np.allclose(data[brain, 1], 0.5, atol=1e-5)  # 1.5e-3 / 3e-3
    sidecar = json.loads(out.with_name("sub-001_model.json").read_text())
    assert sidecar["channels"] == ["fa.nii.gz:fa", "md.nii.gz:md"]


def test_channel_count_mismatch_is_one_line(
    subject: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(subject, tmp_path / "x.nii.gz", ["fa.nii.gz"], {}) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "normalise" in err
    assert not (tmp_path / "x.nii.gz").exists()


def test_demo_subject_lands_on_template_per_ground_truth_pose(tiny_demo, tmp_path: Path) -> None:
    """Real registration (preproc-A's register_to_template on the mean b=0) + resample of the true FA:
    the model-grid FA must match the truth FA sampled through the demo's true pose."""
    from scipy.ndimage import map_coordinates

    from neuropeft.preproc.registration import RegistrationSettings, register_to_template

    sub = tiny_demo.subjects[0]
    truth = tiny_demo.truth / sub
    dwi = nib.load(tiny_demo.bids / sub / "dwi" / f"{sub}_dwi.nii.gz")
    mask = nib.load(truth / f"{sub}_dwi_brainmask.nii.gz").get_fdata() > 0
    bvals = np.loadtxt(tiny_demo.bids / sub / "dwi" / f"{sub}_dwi.bval")
    meanb0 = np.where(mask, dwi.get_fdata()[..., bvals < 50].mean(axis=-1), 0).astype(np.float32)
    register_to_template(
        nib.Nifti1Image(meanb0, dwi.affine),
        "dwi",
        RegistrationSettings(),
        tmp_path / f"{sub}_transforms.json",
        tmp_path / f"{sub}_b0.nii.gz",
        "meanb0",
    )
    out = tmp_path / f"{sub}_model.nii.gz"
    argv = [
        "resample",
        "--image",
        str(truth / f"{sub}_dwi_FA.nii.gz"),
        "--transforms-json",
        str(tmp_path / f"{sub}_transforms.json"),
        "--mask",
        str(truth / f"{sub}_dwi_brainmask.nii.gz"),
        "--out",
        str(out),
        "--settings",
        '{"normalise": ["fa"]}',
    ]
    assert cli_main(argv) == 0
    model = nib.load(out)
    got = model.get_fdata()[..., 0]
    pose = np.asarray(json.loads((truth / f"{sub}_pose.json").read_text())["subject_from_template"])
    fa_img, wm_img = nib.load(truth / f"{sub}_dwi_FA.nii.gz"), nib.load(truth / f"{sub}_dwi_wmmask.nii.gz")
    ijk = np.indices(got.shape).reshape(3, -1)
    voxels = nib.affines.apply_affine(np.linalg.inv(fa_img.affine) @ pose @ model.affine, ijk.T).T
    expected = map_coordinates(fa_img.get_fdata(), voxels, order=1).reshape(got.shape)
    wm = map_coordinates(wm_img.get_fdata(), voxels, order=0).reshape(got.shape) > 0
    assert wm.sum() > 1000
    assert np.corrcoef(got[wm], expected[wm])[0, 1] > 0.85
