"""fit-tensor: FA accuracy against ground truth, fit methods, b-value cut-off, bvec conventions."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.bvecs import bvecs_to_voxel, bvecs_to_world, reorient_dwi_to_ras, voxel_to_bvecs
from neuropeft.preproc.tensor import TensorSettings, fit_tensor

SHAPE = (10, 9, 6)
EVALS_WM = np.array([1.7e-3, 0.3e-3, 0.3e-3])
EVALS_GM = np.array([0.9e-3, 0.8e-3, 0.7e-3])


def tensor_outputs(prefix: object) -> list[str]:
    """fit-tensor's output options writing ``PREFIX_{FA,MD,AD,RD,colorFA}.nii.gz``."""
    options = {"fa": "FA", "md": "MD", "ad": "AD", "rd": "RD", "color-fa": "colorFA"}
    return [arg for option, name in options.items() for arg in (f"--out-{option}", f"{prefix}_{name}.nii.gz")]


def _fa(evals: np.ndarray) -> float:
    md = evals.mean()
    return float(np.sqrt(1.5 * np.sum((evals - md) ** 2) / np.sum(evals**2)))


def _directions(n: int, seed: int) -> np.ndarray:
    """``n`` well-spread unit vectors (electrostatic repulsion on the hemisphere)."""
    from dipy.core.sphere import HemiSphere, disperse_charges

    rng = np.random.default_rng(seed)
    theta, phi = np.arccos(rng.uniform(-1, 1, n)), rng.uniform(0, 2 * np.pi, n)
    hemi, _ = disperse_charges(HemiSphere(theta=theta, phi=phi), 200)
    return hemi.vertices


def _oblique_affine(flip_x: bool = False, permute: bool = False) -> np.ndarray:
    """2.5 mm voxels, rotated 20 degrees about z and 10 about x; LAS-like when ``flip_x``;
    voxel axes stored in (A, S, L)-like order (a sagittal-style acquisition) when ``permute``."""
    a, b = np.deg2rad(20), np.deg2rad(10)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag([-2.5 if flip_x else 2.5, 2.5, 2.5])
    if permute:
        affine[:3, :3] = affine[:3, :3][:, [1, 2, 0]] @ np.diag([1.0, -1.0, -1.0])
    affine[:3, 3] = [-12.0, -10.0, -7.0]
    return affine


def make_phantom(affine: np.ndarray, high_shell_garbage: bool = False, noise: float = 0.0, seed: int = 0) -> dict:
    """A DWI phantom with known world tensors: WM (FA 0.8) on the left half, GM-like elsewhere.

    World gradient directions are converted to FSL bvecs for ``affine`` (module convention), so a
    fit in the bvec frame mapped back with :func:`bvecs_to_world` must recover the world tensor.
    3 b=0, 30 directions at b=1000 and 8 at b=3000 (made non-Gaussian when ``high_shell_garbage``).
    """
    rng = np.random.default_rng(seed)
    g1, g3 = _directions(30, seed), _directions(8, seed + 1)
    world = np.vstack([np.zeros((3, 3)), g1, g3])
    bvals = np.r_[np.zeros(3), np.full(30, 1000.0), np.full(8, 3000.0)]
    rotation = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    bvecs = voxel_to_bvecs(world @ rotation, affine)  # world -> voxel components -> FSL flip
    principal = np.array([0.6, 0.64, 0.48])  # world direction of the WM fibres
    helper = np.cross(principal, [0.0, 0.0, 1.0])
    helper /= np.linalg.norm(helper)
    frame = np.stack([principal, helper, np.cross(principal, helper)], axis=1)
    d_wm = frame @ np.diag(EVALS_WM) @ frame.T
    d_gm = frame @ np.diag(EVALS_GM) @ frame.T
    wm = np.zeros(SHAPE, bool)
    wm[: SHAPE[0] // 2] = True
    adc = np.where(
        wm[..., None], np.einsum("ni,ij,nj->n", world, d_wm, world), np.einsum("ni,ij,nj->n", world, d_gm, world)
    )
    signal = 1000.0 * np.exp(-bvals * adc)
    if high_shell_garbage:
        signal[..., bvals > 1500] = (
            1000.0 * np.exp(-1000.0 * adc[..., bvals > 1500]) * rng.uniform(0.3, 1.0, (*SHAPE, 8))
        )
    if noise:
        signal = np.sqrt((signal + rng.normal(0, noise, signal.shape)) ** 2 + rng.normal(0, noise, signal.shape) ** 2)
    fa = np.where(wm, _fa(EVALS_WM), _fa(EVALS_GM)).astype(np.float32)
    return {
        "img": nib.Nifti1Image(signal.astype(np.float32), affine),
        "bvals": bvals,
        "bvecs": bvecs,
        "wm": wm,
        "fa": fa,
        "principal": principal,
    }


@pytest.mark.parametrize("method", ["WLS", "OLS", "NLLS", "RESTORE"])
def test_fit_methods_recover_fa(method: str) -> None:
    ph = make_phantom(_oblique_affine(), noise=8.0)
    mask = np.ones(SHAPE, bool)
    maps = fit_tensor(np.asarray(ph["img"].dataobj), ph["bvals"], ph["bvecs"], mask, TensorSettings(fit_method=method))
    assert maps.kept_volumes == 33
    assert np.abs(maps.fa[ph["wm"]] - ph["fa"][ph["wm"]]).mean() <= 0.05
    assert np.abs(maps.md[ph["wm"]] - EVALS_WM.mean()).mean() <= 0.05 * EVALS_WM.mean()
    if method == "RESTORE":
        assert maps.sigma is not None and maps.sigma > 0


def test_high_b_shell_is_dropped() -> None:
    ph = make_phantom(_oblique_affine(), high_shell_garbage=True)
    mask = np.ones(SHAPE, bool)
    data = np.asarray(ph["img"].dataobj)
    kept = fit_tensor(data, ph["bvals"], ph["bvecs"], mask, TensorSettings())
    used = fit_tensor(data, ph["bvals"], ph["bvecs"], mask, TensorSettings(max_bval=4000))
    assert kept.kept_volumes == 33 and used.kept_volumes == 41
    assert np.abs(kept.fa - ph["fa"]).max() < 1e-3
    assert np.abs(used.fa - ph["fa"]).mean() > 0.02


def test_fsl_convention_hand_cases() -> None:
    # a gradient along world +x (right) is stored as bvec (-1, 0, 0) for both RAS and LAS storage
    for affine in (np.diag([2.0, 2.0, 2.0, 1.0]), np.diag([-2.0, 2.0, 2.0, 1.0])):
        assert np.allclose(bvecs_to_world(np.array([[-1.0, 0, 0]]), affine), [[1.0, 0, 0]])
        assert np.allclose(bvecs_to_world(np.array([[0, 1.0, 0]]), affine), [[0, 1.0, 0]])
    assert np.allclose(bvecs_to_voxel(np.array([[1.0, 0, 0]]), np.diag([2.0, 2, 2, 1])), [[-1.0, 0, 0]])


@pytest.mark.parametrize("flip_x, permute", [(False, True), (True, False)], ids=["oblique-permuted", "oblique-LAS"])
def test_reorientation_keeps_world_principal_direction(flip_x: bool, permute: bool) -> None:
    affine = _oblique_affine(flip_x, permute)
    ph = make_phantom(affine)
    settings = TensorSettings()
    wm = ph["wm"]
    before = fit_tensor(np.asarray(ph["img"].dataobj), ph["bvals"], ph["bvecs"], np.ones(SHAPE, bool), settings)
    direction_before = bvecs_to_world(before.evec[wm], affine)
    assert np.all(np.abs(direction_before @ ph["principal"]) > 0.999)

    img, bvecs = reorient_dwi_to_ras(ph["img"], ph["bvecs"])
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    # FSL bvecs do not change under a pure x flip (LAS <-> RAS); a permutation must change them
    assert np.allclose(bvecs, ph["bvecs"]) == (not permute)
    assert (
        not np.allclose(np.asarray(img.dataobj), np.asarray(ph["img"].dataobj))
        if not permute
        else img.shape != ph["img"].shape
    )
    mask = np.asarray(nib.as_closest_canonical(nib.Nifti1Image(wm.astype(np.uint8), affine)).dataobj) > 0
    after = fit_tensor(np.asarray(img.dataobj), ph["bvals"], bvecs, np.ones(img.shape[:3], bool), settings)
    direction_after = bvecs_to_world(after.evec[mask], img.affine)
    assert np.all(np.abs(direction_after @ ph["principal"]) > 0.999)
    assert np.allclose(np.sort(after.fa[mask]), np.sort(before.fa[wm]), atol=1e-4)


def test_command_writes_maps_and_sidecars(tmp_path: Path) -> None:
    ph = make_phantom(_oblique_affine(flip_x=True), high_shell_garbage=True)
    nib.save(ph["img"], tmp_path / "dwi.nii.gz")
    np.savetxt(tmp_path / "dwi.bval", ph["bvals"][None], fmt="%g")
    np.savetxt(tmp_path / "dwi.bvec", ph["bvecs"].T, fmt="%.6f")
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:-1, 1:-1, 1:-1] = 1
    nib.save(nib.Nifti1Image(mask, ph["img"].affine), tmp_path / "mask.nii.gz")
    argv = [
        "fit-tensor",
        "--dwi",
        str(tmp_path / "dwi.nii.gz"),
        "--bval",
        str(tmp_path / "dwi.bval"),
        "--bvec",
        str(tmp_path / "dwi.bvec"),
        "--mask",
        str(tmp_path / "mask.nii.gz"),
        *tensor_outputs(str(tmp_path / "out" / "sub-001")),
        "--settings",
        '{"reorient_to_ras": true}',
    ]
    assert cli_main(argv) == 0
    fa = nib.load(tmp_path / "out" / "sub-001_FA.nii.gz")
    assert fa.get_data_dtype() == np.float32 and nib.aff2axcodes(fa.affine) == ("R", "A", "S")
    fa_data = fa.get_fdata()
    assert fa_data.min() >= 0 and fa_data.max() <= 1 and np.isfinite(fa_data).all()
    canonical_wm = (
        np.asarray(
            nib.as_closest_canonical(
                nib.Nifti1Image((ph["wm"] & (mask > 0)).astype(np.uint8), ph["img"].affine)
            ).dataobj
        )
        > 0
    )
    assert np.abs(fa_data[canonical_wm] - _fa(EVALS_WM)).max() < 1e-3
    rgb = nib.load(tmp_path / "out" / "sub-001_colorFA.nii.gz").get_fdata()
    expected = _fa(EVALS_WM) * np.abs(ph["principal"])
    assert np.allclose(rgb[canonical_wm], expected, atol=1e-3)
    sidecar = json.loads((tmp_path / "out" / "sub-001_MD.json").read_text())
    assert sidecar["step"] == "fit-tensor" and sidecar["volumes_fitted"] == 33
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".nii.gz")) == [
        f"sub-001_{m}.nii.gz" for m in ("AD", "FA", "MD", "RD", "colorFA")
    ]


def test_bad_settings_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "fit-tensor",
        "--dwi",
        "x",
        "--bval",
        "x",
        "--bvec",
        "x",
        "--mask",
        "x",
        *tensor_outputs("x"),
        "--settings",
        '{"fit_method": "LS"}',
    ]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "WLS" in err


def test_fa_matches_demo_ground_truth_in_white_matter(tiny_demo, tmp_path: Path) -> None:
    sub = tiny_demo.subjects[0]
    dwi = tiny_demo.bids / sub / "dwi"
    truth = tiny_demo.truth / sub
    prefix = tmp_path / sub
    argv = [
        "fit-tensor",
        "--dwi",
        str(dwi / f"{sub}_dwi.nii.gz"),
        "--bval",
        str(dwi / f"{sub}_dwi.bval"),
        "--bvec",
        str(dwi / f"{sub}_dwi.bvec"),
        "--mask",
        str(truth / f"{sub}_dwi_brainmask.nii.gz"),
        *tensor_outputs(str(prefix)),
    ]
    assert cli_main(argv) == 0
    wm = nib.load(truth / f"{sub}_dwi_wmmask.nii.gz").get_fdata() > 0
    fa = nib.load(f"{prefix}_FA.nii.gz").get_fdata()
    md = nib.load(f"{prefix}_MD.nii.gz").get_fdata()
    fa_true = nib.load(truth / f"{sub}_dwi_FA.nii.gz").get_fdata()
    md_true = nib.load(truth / f"{sub}_dwi_MD.nii.gz").get_fdata()
    assert wm.sum() > 1000
    assert np.abs(fa[wm] - fa_true[wm]).mean() <= 0.05
    assert np.abs(md[wm] - md_true[wm]).mean() <= 0.05 * md_true[wm].mean()


def test_empty_brain_mask_is_refused_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ph = make_phantom(_oblique_affine(flip_x=False), high_shell_garbage=False)
    nib.save(ph["img"], tmp_path / "dwi.nii.gz")
    np.savetxt(tmp_path / "dwi.bval", ph["bvals"][None], fmt="%g")
    np.savetxt(tmp_path / "dwi.bvec", ph["bvecs"].T, fmt="%.6f")
    nib.save(nib.Nifti1Image(np.zeros(SHAPE, np.uint8), ph["img"].affine), tmp_path / "mask.nii.gz")
    argv = [
        "fit-tensor",
        "--dwi",
        str(tmp_path / "dwi.nii.gz"),
        "--bval",
        str(tmp_path / "dwi.bval"),
        "--bvec",
        str(tmp_path / "dwi.bvec"),
        "--mask",
        str(tmp_path / "mask.nii.gz"),
        *tensor_outputs(str(tmp_path / "out" / "sub-001")),
        "--settings",
        "{}",
    ]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "mask.nii.gz: the brain mask is empty" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _single_shell_b2000(tmp_path: Path) -> Path:
    """The phantom's b=0 and b=1000 volumes, relabelled as a single-shell b=2000 scan (fitted D halves; FA unchanged)."""
    ph = make_phantom(_oblique_affine())
    keep = ph["bvals"] <= 1000
    data = np.asarray(ph["img"].dataobj)[..., keep]
    nib.save(nib.Nifti1Image(data, ph["img"].affine), tmp_path / "dwi.nii.gz")
    np.savetxt(tmp_path / "dwi.bval", np.where(ph["bvals"][keep] > 0, 2000.0, 0.0)[None], fmt="%g")
    np.savetxt(tmp_path / "dwi.bvec", ph["bvecs"][keep].T, fmt="%.6f")
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.uint8), ph["img"].affine), tmp_path / "mask.nii.gz")
    return tmp_path


def test_single_shell_above_max_bval_is_fitted_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _single_shell_b2000(tmp_path)
    argv = [
        "fit-tensor",
        "--dwi",
        str(folder / "dwi.nii.gz"),
        "--bval",
        str(folder / "dwi.bval"),
        "--bvec",
        str(folder / "dwi.bvec"),
        "--mask",
        str(folder / "mask.nii.gz"),
        *tensor_outputs(str(folder / "out" / "sub-001")),
    ]
    assert cli_main(argv) == 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "warning" in err and "b=2000" in err
    sidecar = json.loads((folder / "out" / "sub-001_FA.json").read_text())
    assert sidecar["volumes_fitted"] == 33 and len(sidecar["warnings"]) == 1 and "b <= 1500" in sidecar["warnings"][0]
    wm = make_phantom(_oblique_affine())["wm"]
    fa = nib.load(folder / "out" / "sub-001_FA.nii.gz").get_fdata()
    md = nib.load(folder / "out" / "sub-001_MD.nii.gz").get_fdata()
    assert np.abs(fa[wm] - _fa(EVALS_WM)).max() < 1e-3
    assert np.allclose(md[wm], EVALS_WM.mean() / 2, rtol=1e-3)  # the b=1000 signal read as b=2000


def test_a_low_shell_with_too_few_directions_still_fails(tmp_path: Path) -> None:
    ph = make_phantom(_oblique_affine())
    bvals = ph["bvals"].copy()
    bvals[8:33] = 3000.0  # 5 directions left at b=1000, the rest above max_bval
    with pytest.raises(NeuropeftError, match="5 diffusion-weighted"):
        fit_tensor(np.asarray(ph["img"].dataobj), bvals, ph["bvecs"], np.ones(SHAPE, bool), TensorSettings())
    assert (
        fit_tensor(
            np.asarray(ph["img"].dataobj), ph["bvals"], ph["bvecs"], np.ones(SHAPE, bool), TensorSettings()
        ).warnings
        == []
    )
