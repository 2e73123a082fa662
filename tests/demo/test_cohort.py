"""The tiny demo cohort on disk: BIDS layout, gradients, pose and planted effects against the truth."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.preproc.template import template_brain_mask

TRUTH_MAPS = {
    "T1w": ["brainmask", "biasfield", "wmmask"],
    "dwi": ["brainmask", "biasfield", "wmmask", "FA", "MD", "effectmask"],
}


def _load(path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def test_bids_layout(tiny_demo) -> None:
    description = json.loads((tiny_demo.bids / "dataset_description.json").read_text())
    assert description["BIDSVersion"] and description["Name"]
    participants = pd.read_csv(tiny_demo.bids / "participants.tsv", sep="\t")
    assert list(participants.columns) == ["participant_id", "diagnosis", "age", "sex", "site", "time", "event"]
    assert participants.participant_id.tolist() == tiny_demo.subjects
    assert set(participants.diagnosis) == {0, 1} and participants.diagnosis.sum() == len(participants) // 2
    assert participants.age.between(tiny_demo.settings.age_min, tiny_demo.settings.age_max).all()
    for sub in tiny_demo.subjects:
        anat, dwi = tiny_demo.bids / sub / "anat", tiny_demo.bids / sub / "dwi"
        for path in [
            anat / f"{sub}_T1w.nii.gz",
            anat / f"{sub}_T1w.json",
            dwi / f"{sub}_dwi.nii.gz",
            dwi / f"{sub}_dwi.bval",
            dwi / f"{sub}_dwi.bvec",
            dwi / f"{sub}_dwi.json",
        ]:
            assert path.is_file(), path
        sidecar = json.loads((dwi / f"{sub}_dwi.json").read_text())
        assert {"RepetitionTime", "EchoTime", "PhaseEncodingDirection", "TotalReadoutTime"} <= set(sidecar)
        assert {"RepetitionTime", "EchoTime"} <= set(json.loads((anat / f"{sub}_T1w.json").read_text()))
    assert not list(tiny_demo.root.rglob("*.tmp*")), "temporary files left behind"


def test_images_and_gradients(tiny_demo) -> None:
    settings = tiny_demo.settings
    for sub in tiny_demo.subjects:
        dwi = nib.load(tiny_demo.bids / sub / "dwi" / f"{sub}_dwi.nii.gz")
        t1w = nib.load(tiny_demo.bids / sub / "anat" / f"{sub}_T1w.nii.gz")
        bvals = np.loadtxt(tiny_demo.bids / sub / "dwi" / f"{sub}_dwi.bval")
        bvecs = np.loadtxt(tiny_demo.bids / sub / "dwi" / f"{sub}_dwi.bvec")
        assert dwi.ndim == 4 and dwi.shape[3] == len(bvals) == bvecs.shape[1] == settings.n_b0 + settings.n_directions
        assert bvecs.shape[0] == 3 and np.sum(bvals == 0) == settings.n_b0
        np.testing.assert_allclose(dwi.header.get_zooms()[:3], settings.dwi_voxel_mm)
        np.testing.assert_allclose(t1w.header.get_zooms(), settings.t1w_voxel_mm)
        assert nib.aff2axcodes(dwi.affine) == ("L", "A", "S")
        assert dwi.get_data_dtype() == np.int16 and t1w.get_data_dtype() == np.int16
        for modality, names in TRUTH_MAPS.items():
            image = t1w if modality == "T1w" else dwi
            for name in names:
                truth = nib.load(tiny_demo.truth / sub / f"{sub}_{modality}_{name}.nii.gz")
                assert truth.shape == image.shape[:3] and np.allclose(truth.affine, image.affine)


def test_brain_is_inside_the_head_and_in_the_field_of_view(tiny_demo) -> None:
    for sub in tiny_demo.subjects:
        t1w = _load(tiny_demo.bids / sub / "anat" / f"{sub}_T1w.nii.gz").astype(float)
        brain = _load(tiny_demo.truth / sub / f"{sub}_T1w_brainmask.nii.gz") > 0
        background = np.median(t1w[:4, :4, :4])
        assert np.median(t1w[brain]) > 10 * background
        assert np.mean(t1w[brain] > 5 * background) > 0.97  # brain voxels carry head signal
        dwi_brain = _load(tiny_demo.truth / sub / f"{sub}_dwi_brainmask.nii.gz") > 0
        assert dwi_brain.sum() > 0.5 * brain.sum() * (2.5 / 3.0) ** 3
        # the brain never touches the sides of either field of view
        for mask in (brain, dwi_brain):
            assert not any(np.moveaxis(mask, axis, 0)[side].any() for axis in range(3) for side in (0, -1))


def test_pose_within_limits_and_direction(tiny_demo) -> None:
    settings = tiny_demo.settings
    template = template_brain_mask(2)
    ijk = np.argwhere(np.asarray(template.dataobj) > 0)
    template_centre = template.affine[:3, :3] @ ijk.mean(0) + template.affine[:3, 3]
    for sub in tiny_demo.subjects:
        pose = json.loads((tiny_demo.truth / sub / f"{sub}_pose.json").read_text())
        assert np.all(np.abs(pose["rotation_deg"]) <= settings.max_rotation_deg)
        assert np.all(np.abs(pose["translation_mm"]) <= settings.max_translation_mm)
        assert np.all(np.abs(np.array(pose["scale"]) - 1) <= settings.max_scaling)
        assert 0 < pose["max_deformation_mm"] <= settings.deformation_mm + 1e-6
        matrix = np.array(pose["subject_from_template"])
        linear = matrix[:3, :3]
        assert np.allclose(linear.T @ linear, np.diag(np.array(pose["scale"]) ** 2), atol=1e-8)
        # subject world = A @ template world: the brain's centre lands where A sends the template's
        mask_img = nib.load(tiny_demo.truth / sub / f"{sub}_T1w_brainmask.nii.gz")
        ijk = np.argwhere(np.asarray(mask_img.dataobj) > 0)
        subject_centre = mask_img.affine[:3, :3] @ ijk.mean(0) + mask_img.affine[:3, 3]
        expected = matrix[:3, :3] @ template_centre + matrix[:3, 3]
        assert np.linalg.norm(subject_centre - expected) < 2.0
        assert np.linalg.norm(subject_centre - template_centre) > 2.0 or np.abs(pose["translation_mm"]).max() < 2


def test_bias_fields(tiny_demo) -> None:
    strength = tiny_demo.settings.bias_strength
    for sub in tiny_demo.subjects:
        fields = {}
        for modality in ("T1w", "dwi"):
            bias = nib.load(tiny_demo.truth / sub / f"{sub}_{modality}_biasfield.nii.gz").get_fdata()
            brain = _load(tiny_demo.truth / sub / f"{sub}_{modality}_brainmask.nii.gz") > 0
            assert 1 / (1 + strength) - 1e-3 <= bias[brain].min() and bias[brain].max() <= 1 + strength + 1e-3
            assert bias[brain].max() / bias[brain].min() > 1.1
            fields[modality] = (bias, brain)
        # different fields for the two scans: compare the T1w field resampled at DWI brain voxels
        (t1_bias, _), (dwi_bias, dwi_brain) = fields["T1w"], fields["dwi"]
        t1_img = nib.load(tiny_demo.truth / sub / f"{sub}_T1w_biasfield.nii.gz")
        dwi_img = nib.load(tiny_demo.truth / sub / f"{sub}_dwi_biasfield.nii.gz")
        ijk = np.argwhere(dwi_brain)
        world = dwi_img.affine[:3, :3] @ ijk.T + dwi_img.affine[:3, 3:]
        t1_ijk = np.rint(np.linalg.inv(t1_img.affine)[:3, :3] @ world + np.linalg.inv(t1_img.affine)[:3, 3:]).astype(
            int
        )
        t1_at_dwi = t1_bias[tuple(t1_ijk)]
        assert np.abs(t1_at_dwi - dwi_bias[dwi_brain]).mean() > 0.02


def test_planted_group_effect(tiny_demo) -> None:
    """Within-subject contrast (effect region minus other WM) differs by effect_fa between the groups."""
    labels = pd.read_csv(tiny_demo.truth / "labels.tsv", sep="\t")
    contrast, md_contrast = [], []
    for sub in labels.participant_id:
        fa = _load(tiny_demo.truth / sub / f"{sub}_dwi_FA.nii.gz")
        md = _load(tiny_demo.truth / sub / f"{sub}_dwi_MD.nii.gz")
        region = _load(tiny_demo.truth / sub / f"{sub}_dwi_effectmask.nii.gz") > 0
        other = (_load(tiny_demo.truth / sub / f"{sub}_dwi_wmmask.nii.gz") > 0) & ~region
        assert region.sum() > 200
        contrast.append(fa[region].mean() - fa[other].mean())
        md_contrast.append(md[region].mean() - md[other].mean())
    contrast, md_contrast = np.array(contrast), np.array(md_contrast)
    sick = labels.diagnosis.to_numpy() == 1
    effect = contrast[~sick].mean() - contrast[sick].mean()
    assert effect == pytest.approx(tiny_demo.settings.effect_fa, abs=0.25 * tiny_demo.settings.effect_fa)
    assert abs(md_contrast[~sick].mean() - md_contrast[sick].mean()) < 0.03e-3  # MD kept
    np.testing.assert_allclose(labels.wm_fa - labels.wm_fa_in_region, labels.effect_fa)
    assert set(labels.effect_fa[sick]) == {tiny_demo.settings.effect_fa} and set(labels.effect_fa[~sick]) == {0}


def test_age_effect_on_md(tiny_demo) -> None:
    labels = pd.read_csv(tiny_demo.truth / "labels.tsv", sep="\t")
    wm_md = []
    for sub in labels.participant_id:
        md = _load(tiny_demo.truth / sub / f"{sub}_dwi_MD.nii.gz")
        wm = _load(tiny_demo.truth / sub / f"{sub}_dwi_wmmask.nii.gz") > 0
        wm_md.append(np.median(md[wm]))
    slope = np.polyfit(labels.age, wm_md, 1)[0]
    assert slope == pytest.approx(tiny_demo.settings.age_md_slope, rel=0.3)
    fa_slope = np.polyfit(labels.age, labels.wm_fa, 1)[0]
    assert fa_slope < 0


def test_tissue_values(tiny_demo) -> None:
    sub = tiny_demo.subjects[1]
    fa = _load(tiny_demo.truth / sub / f"{sub}_dwi_FA.nii.gz")
    md = _load(tiny_demo.truth / sub / f"{sub}_dwi_MD.nii.gz")
    brain = _load(tiny_demo.truth / sub / f"{sub}_dwi_brainmask.nii.gz") > 0
    wm = _load(tiny_demo.truth / sub / f"{sub}_dwi_wmmask.nii.gz") > 0
    assert 0.4 < np.percentile(fa[wm], 90) < 0.75
    assert 0.6e-3 < np.median(md[wm]) < 0.85e-3
    assert np.max(md[brain]) == pytest.approx(3.0e-3, rel=0.05)  # free water in the ventricles
    assert np.median(fa[brain & ~wm]) < 0.2


def test_per_subject_job_imports_no_table_library() -> None:
    # a demo_cohort_subject job imports the writer; pandas (dataset files) and dipy (gradient table) load when used
    code = "import sys, neuropeft.demo.cohort\nprint(' '.join(m for m in ('pandas', 'dipy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
