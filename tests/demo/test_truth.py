"""The true FA/MD maps are what a noise-free tensor fit of the noise-free written DWI gives."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from dipy.core.gradients import gradient_table
from dipy.io.gradients import read_bvals_bvecs
from dipy.reconst.dti import TensorModel

from neuropeft.demo.anatomy import fibre_direction
from neuropeft.demo.cohort import make_demo_cohort
from neuropeft.demo.pose import Pose
from neuropeft.demo.settings import DemoSettings


@pytest.fixture(scope="module")
def noise_free(tmp_path_factory):
    root = tmp_path_factory.mktemp("noise_free")
    make_demo_cohort(root, DemoSettings.tiny(n_subjects=2, noise=False, seed=5))
    return root


@pytest.mark.parametrize("sub", ["sub-001", "sub-002"])
def test_tensor_fit_recovers_true_fa_md(noise_free, sub: str) -> None:
    dwi_dir, truth = noise_free / "bids" / sub / "dwi", noise_free / "truth" / sub
    image = nib.load(dwi_dir / f"{sub}_dwi.nii.gz")
    bvals, bvecs = read_bvals_bvecs(str(dwi_dir / f"{sub}_dwi.bval"), str(dwi_dir / f"{sub}_dwi.bvec"))
    brain = np.asarray(nib.load(truth / f"{sub}_dwi_brainmask.nii.gz").dataobj) > 0
    fit = TensorModel(gradient_table(bvals, bvecs=bvecs)).fit(image.get_fdata(), mask=brain)
    true_fa = nib.load(truth / f"{sub}_dwi_FA.nii.gz").get_fdata()
    true_md = nib.load(truth / f"{sub}_dwi_MD.nii.gz").get_fdata()
    fa_error = np.abs(fit.fa[brain] - true_fa[brain])
    md_error = np.abs(fit.md[brain] - true_md[brain]) / true_md[brain]
    assert np.percentile(fa_error, 99) < 0.005 and fa_error.max() < 0.02  # int16 rounding only
    assert np.percentile(md_error, 99) < 0.005

    # fibre orientation: the fitted principal direction (voxel axes = bvec frame, LAS image) mapped to
    # template space with the recorded pose is the template fibre field at the matching point
    pose_record = json.loads((truth / f"{sub}_pose.json").read_text())
    pose = Pose(
        rotation_deg=np.array(pose_record["rotation_deg"]),
        translation_mm=np.array(pose_record["translation_mm"]),
        scale=np.array(pose_record["scale"]),
        wave_vectors=np.array(pose_record["deformation_wavevectors_rad_per_mm"]),
        wave_phases=np.array(pose_record["deformation_phases_rad"]),
        wave_amplitudes=np.array(pose_record["deformation_amplitudes_mm"]),
    )
    np.testing.assert_allclose(pose.subject_from_template, pose_record["subject_from_template"], atol=1e-9)
    core = brain & (true_fa > 0.4)
    ijk = np.argwhere(core).T
    world = image.affine[:3, :3] @ ijk + image.affine[:3, 3:]
    voxel_to_world = image.affine[:3, :3] / np.linalg.norm(image.affine[:3, :3], axis=0)
    fitted = pose.rotation.T @ voxel_to_world @ fit.evecs[core][:, :, 0].T
    expected = fibre_direction(pose.template_points(world))
    assert np.median(np.abs(np.sum(fitted * expected, axis=0))) > 0.999


def test_noise_free_background_is_zero(noise_free) -> None:
    data = np.asarray(nib.load(noise_free / "bids" / "sub-001" / "dwi" / "sub-001_dwi.nii.gz").dataobj)
    assert data[:3, :3, :3].max() == 0
