"""The demo's tissue label maps (BIDS derivative ``derivatives/tissue``) against the other ground truth."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from neuropeft.demo.layout import dataset_files, subject_files, tissue_root

#: class volumes (ml) of the MNI152 2009a template's own label map (1 mm, the labelling of
#: ``subject.tissue_labels`` applied to the template maps; measured 2026-12-04 with nilearn's templates).
#: The template's brain mask is generous (1883 ml, cerebellum and brainstem included) and its grey-matter
#: map wide, hence more GM than an adult's ~500-800 ml; CSF is half inside the brain mask, half extra-axial.
TEMPLATE_ML = {1: 321, 2: 1094, 3: 632}


def _load(path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def _labels(tiny_demo, sub: str) -> np.ndarray:
    return _load(subject_files(tiny_demo.root, sub)["tissue_dseg"])


def test_label_map_is_uint8_on_the_t1w_grid_with_wm_equal_to_the_wmmask(tiny_demo) -> None:
    for sub in tiny_demo.subjects:
        files = subject_files(tiny_demo.root, sub)
        dseg, t1w = nib.load(files["tissue_dseg"]), nib.load(files["t1w"])
        assert dseg.get_data_dtype() == np.uint8
        assert dseg.shape == t1w.shape and np.allclose(dseg.affine, t1w.affine)
        labels = np.asarray(dseg.dataobj)
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        wmmask = _load(tiny_demo.truth / sub / f"{sub}_T1w_wmmask.nii.gz") > 0
        assert np.array_equal(labels == 3, wmmask)


def test_labels_cover_the_brain_and_lie_inside_the_head(tiny_demo) -> None:
    voxel_mm = tiny_demo.settings.t1w_voxel_mm
    for sub in tiny_demo.subjects:
        labels = _labels(tiny_demo, sub)
        brain = _load(tiny_demo.truth / sub / f"{sub}_T1w_brainmask.nii.gz") > 0
        assert np.all(labels[brain] > 0)
        # the labels outside the brain mask are the extra-axial CSF pockets: a few mm thick, never the scalp
        # (which starts anatomy.SKULL_MM beyond them) nor the air
        outside = labels[~brain]
        assert np.mean(outside[outside > 0] == 1) > 0.99
        distance = ndimage.distance_transform_edt(~brain, sampling=voxel_mm)
        assert distance[labels > 0].max() < 8.0
        t1w = _load(tiny_demo.bids / sub / "anat" / f"{sub}_T1w.nii.gz").astype(float)
        background = np.median(t1w[:4, :4, :4])
        assert np.mean(t1w[labels > 0] > 5 * background) > 0.995  # labelled voxels carry head signal


def test_class_volumes(tiny_demo) -> None:
    """Each class's volume is the template's times the pose's volume scale (the deformation and the
    resampling change it by about 1 %: within 3 % in every subject). The pose scales each axis by
    1 ± max_scaling (0.05), so the volumes lie within 0.86..1.16 of the template's: in ml, CSF 265..385,
    GM 900..1310, WM 520..760; GM is always the largest class and CSF the smallest."""
    voxel_ml = tiny_demo.settings.t1w_voxel_mm**3 / 1000
    ranges = {1: (265, 385), 2: (900, 1310), 3: (520, 760)}
    for sub in tiny_demo.subjects:
        labels = _labels(tiny_demo, sub)
        volume_scale = np.prod(json.loads((tiny_demo.truth / sub / f"{sub}_pose.json").read_text())["scale"])
        ml = {label: np.sum(labels == label) * voxel_ml for label in (1, 2, 3)}
        for label, (low, high) in ranges.items():
            assert low < ml[label] < high, (sub, label, ml[label])
            assert abs(ml[label] / volume_scale / TEMPLATE_ML[label] - 1) < 0.03, (sub, label, ml[label])
        assert ml[2] > ml[3] > ml[1]


def test_derivative_description_lut_and_sidecars(tiny_demo) -> None:
    files = dataset_files(tiny_demo.root)
    assert files["tissue_description"].parent == files["tissue_lut"].parent == tissue_root(tiny_demo.root)
    description = json.loads(files["tissue_description"].read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"] and description["Name"]
    assert description["GeneratedBy"][0]["Name"].startswith("neuropeft")
    lut = pd.read_csv(files["tissue_lut"], sep="\t")
    assert list(lut.columns) == ["index", "name"]
    assert dict(zip(lut["index"], lut["name"], strict=True)) == {1: "CSF", 2: "GM", 3: "WM"}
    raw = (files["tissue_description"].parent / description["DatasetLinks"]["raw"]).resolve()
    for sub in tiny_demo.subjects:
        sidecar = json.loads(subject_files(tiny_demo.root, sub)["tissue_dseg_json"].read_text())
        assert sidecar["Description"] and sidecar["GeneratedBy"]["Settings"]
        (source,) = sidecar["Sources"]
        assert source.startswith("bids:raw:")
        assert raw / source.removeprefix("bids:raw:") == subject_files(tiny_demo.root, sub)["t1w"].resolve()
