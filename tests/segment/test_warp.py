"""resample-labels and segmentation-to-native on a synthetic head registered by the real `register` step.

The head is the template brain resampled onto a 1.7 mm grid rotated by 10 degrees, shifted and
stored in another axis order (like IXI's PSR grids); its label map holds balls of labels 4 and 11
(grouped into class 1), 52 (class 2) and 99 (in no class). Registration at 3 mm takes about 2 s;
the model grid is 4 mm.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from neuropeft.cli import main as cli_main
from neuropeft.preproc.resample import model_grid
from neuropeft.preproc.template import template_brain_mask, template_t1w

VOXEL_MM, SHAPE = 4, [40, 48, 40]
SETTINGS = json.dumps({"voxel_mm": VOXEL_MM, "shape": SHAPE})
#: the subject's grid: 1.7 mm voxels, axes permuted and one flipped (like IXI's PSR), 10 degrees
#: off the template (its posed world), its voxel centres off the template's and the model grid's
NATIVE_SHAPE = (125, 100, 92)
NATIVE_AXES = np.array([[0.0, 0.0, 1.7], [-1.7, 0.0, 0.0], [0.0, 1.7, 0.0]])
NATIVE_ORIGIN = np.array([-78.3, 100.9, -68.2])
#: balls in template world mm: label -> (centre, radius)
BALLS = {4: ((-10, -8, -10), 12), 11: ((10, -8, -10), 12), 52: ((0, -48, 14), 14), 99: ((0, 32, -30), 10)}
GROUPS = "label\tclass\n4\tventricles\n11\tventricles\n52\twhite-matter\n"
STEM = "sub-01_ses-1"


def _pose() -> np.ndarray:
    """Subject world = pose @ template world: a 10 degree rotation and a shift."""
    angle = np.deg2rad(10.0)
    c, s = np.cos(angle), np.sin(angle)
    pose = np.eye(4)
    pose[:3, :3] = [[1, 0, 0], [0, c, -s], [0, s, c]]
    pose[:3, 3] = [7.0, -5.0, 4.0]
    return pose


def _native_affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = NATIVE_AXES, NATIVE_ORIGIN
    return _pose() @ affine


def _in_template_world(points_ijk: np.ndarray) -> np.ndarray:
    """Template world positions (N, 3) of subject voxels."""
    return nib.affines.apply_affine(np.linalg.inv(_pose()) @ _native_affine(), points_ijk)


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("labels")
    template = template_t1w(2)
    ijk = np.indices(NATIVE_SHAPE).reshape(3, -1).T
    world = _in_template_world(ijk)
    at = nib.affines.apply_affine(np.linalg.inv(template.affine), world).T
    brain = ndimage.map_coordinates(np.asarray(template_brain_mask(2).dataobj, np.float32), at, order=0) > 0.5
    t1w = np.where(brain, ndimage.map_coordinates(np.asarray(template.dataobj, np.float32), at, order=1), 0.0)
    labels = np.zeros(len(ijk), np.int16)
    for value, (centre, radius) in BALLS.items():
        labels[np.linalg.norm(world - np.asarray(centre), axis=1) <= radius] = value
    t1w, labels = t1w.reshape(NATIVE_SHAPE).astype(np.float32), labels.reshape(NATIVE_SHAPE)
    blob = np.where(labels == 52, 1000.0, t1w).astype(np.float32)  # the T1w with class 2 painted bright
    paths = {
        "t1w": root / f"{STEM}_T1w.nii.gz",
        "blob": root / f"{STEM}_desc-blob_T1w.nii.gz",
        "labels": root / f"{STEM}_desc-test_dseg.nii.gz",
        "groups": root / "groups.tsv",
        "transforms": root / "reg" / f"{STEM}_from-T1w_to-MNI_transforms.json",
    }
    for name, data in (("t1w", t1w), ("blob", blob), ("labels", labels)):
        nib.save(nib.Nifti1Image(data, _native_affine()), paths[name])
    paths["groups"].write_text(GROUPS)
    registered = root / "reg" / f"{STEM}_space-MNI_T1w.nii.gz"
    argv = ["register", "--moving", str(paths["t1w"]), "--modality", "t1w", "--settings", '{"voxel_mm": 3}']
    assert cli_main([*argv, "--out-transforms", str(paths["transforms"]), "--out-registered", str(registered)]) == 0
    paths["out"] = root / f"{STEM}_space-MNI_dseg.nii.gz"
    argv = ["resample-labels", "--labels", str(paths["labels"]), "--transforms-json", str(paths["transforms"])]
    assert cli_main([*argv, "--out", str(paths["out"]), "--groups", str(paths["groups"]), "--settings", SETTINGS]) == 0
    return paths


def _centre(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_labels_on_the_model_grid_are_classes_only(head: dict[str, Path]) -> None:
    out = nib.load(head["out"])
    grid = model_grid(VOXEL_MM, SHAPE)
    assert out.shape == tuple(SHAPE) and out.get_data_dtype() == np.uint8
    assert np.allclose(out.affine, grid.affine)
    data = np.asarray(out.dataobj)
    assert set(np.unique(data)) == {0, 1, 2}  # 4 and 11 grouped, 99 dropped
    # nothing interpolated between classes: no class-1 rim around the class-2 ball (they lie far apart)
    near_two = ndimage.binary_dilation(data == 2, iterations=2)
    assert not np.any(near_two & (data == 1))
    assert ndimage.label(data == 1)[1] == 1 and ndimage.label(data == 2)[1] == 1
    sidecar = json.loads(head["out"].with_name(f"{STEM}_space-MNI_dseg.json").read_text())
    assert sidecar["step"] == "resample-labels" and sidecar["classes"] == ["ventricles", "white-matter"]
    assert sidecar["grid_check"].startswith("same grid")
    # the volume of each class is kept
    native_mm3, grid_mm3 = np.asarray(sidecar["native_voxels"]) * 1.7**3, np.asarray(sidecar["grid_voxels"]) * 4**3
    assert np.allclose(grid_mm3, native_mm3, rtol=0.2)


def test_labels_without_groups_must_be_class_numbers(head: dict[str, Path], tmp_path: Path) -> None:
    source = nib.load(head["labels"])
    classes = np.select([np.isin(source.dataobj, (4, 11)), np.asarray(source.dataobj) == 52], [1, 2], 0)
    labels, out = tmp_path / f"{STEM}_desc-classes_dseg.nii.gz", tmp_path / "out.nii.gz"
    nib.save(nib.Nifti1Image(classes.astype(np.uint8), source.affine), labels)
    argv = ["resample-labels", "--labels", str(labels), "--transforms-json", str(head["transforms"])]
    assert cli_main([*argv, "--out", str(out), "--settings", SETTINGS]) == 0
    assert np.array_equal(np.asarray(nib.load(out).dataobj), np.asarray(nib.load(head["out"]).dataobj))
    assert json.loads((tmp_path / "out.json").read_text())["classes"] == ["label-1", "label-2"]


def test_labels_line_up_with_the_t1w_resampled_by_resample(head: dict[str, Path], tmp_path: Path) -> None:
    image = tmp_path / f"{STEM}_model.nii.gz"
    settings = json.dumps({"voxel_mm": VOXEL_MM, "shape": SHAPE, "normalise": ["none"]})
    argv = ["resample", "--image", str(head["blob"]), "--transforms-json", str(head["transforms"])]
    assert cli_main([*argv, "--out", str(image), "--settings", settings]) == 0
    bright = nib.load(image).get_fdata()[..., 0] > 500
    labels = np.asarray(nib.load(head["out"]).dataobj) == 2
    assert abs(int(bright.sum()) - int(labels.sum())) < 0.2 * labels.sum()
    assert np.linalg.norm(_centre(bright) - _centre(labels)) < 1.0  # within one model voxel
    # and where the truth puts it: the ball's template position (the registration undoes the pose)
    truth = nib.affines.apply_affine(np.linalg.inv(model_grid(VOXEL_MM, SHAPE).affine), BALLS[52][0])
    assert np.linalg.norm(_centre(labels) - truth) < 1.0


def _no_session_copy(head: dict[str, Path], root: Path) -> tuple[Path, Path]:
    """The subject's transforms JSON (+ matrix) and T1w copied under the stem ``sub-01`` (a second subject)."""
    transforms = root / "reg" / "sub-01_from-T1w_to-MNI_transforms.json"
    shutil.copytree(head["transforms"].parent, transforms.parent)  # the JSON names its matrices relative to its folder
    shutil.copy(head["transforms"], transforms)
    reference = root / "sub-01_T1w.nii.gz"
    shutil.copy(head["t1w"], reference)
    return transforms, reference


COHORT = "participant_id\tsession\tstem\nsub-01\t\tsub-01\nsub-01\tses-1\tsub-01_ses-1\nsub-02\t\tsub-02\n"


def test_round_trip_to_native_space(head: dict[str, Path], tmp_path: Path) -> None:
    """Two (predicted, index) pairs, as two folds: sub-01 session ses-1 and sub-01 without sessions."""
    predicted = np.asarray(nib.load(head["out"]).dataobj)[None]
    for fold, (pid, session) in enumerate((("sub-01", "ses-1"), ("sub-01", "n/a"))):
        np.save(tmp_path / f"predicted{fold}.npy", predicted)
        (tmp_path / f"index{fold}.tsv").write_text(f"participant_id\tsession\trow\n{pid}\t{session}\t4\n")
    (tmp_path / "cohort.tsv").write_text(COHORT)
    transforms, reference = _no_session_copy(head, tmp_path)
    argv = ["segmentation-to-native", "--predicted", str(tmp_path / "predicted0.npy"), str(tmp_path / "predicted1.npy")]
    argv += [
        "--index",
        str(tmp_path / "index0.tsv"),
        str(tmp_path / "index1.tsv"),
        "--cohort",
        str(tmp_path / "cohort.tsv"),
    ]
    argv += ["--transforms", str(transforms), str(head["transforms"]), "--references", str(head["t1w"]), str(reference)]
    argv += ["--out-dir", str(tmp_path / "derivatives"), "--desc", "unetrLora", "--settings", SETTINGS]
    assert cli_main([*argv, "--out-list", str(tmp_path / "written.tsv")]) == 0
    derivatives = tmp_path / "derivatives"
    out = derivatives / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_desc-unetrLora_dseg.nii.gz"
    other = derivatives / "sub-01" / "anat" / "sub-01_desc-unetrLora_dseg.nii.gz"
    written = (tmp_path / "written.tsv").read_text().splitlines()[1:]
    assert written == [f"sub-01\tses-1\t{out}", f"sub-01\tn/a\t{other}"]
    assert json.loads((derivatives / "dataset_description.json").read_text())["DatasetType"] == "derivative"
    assert json.loads(out.with_name(out.name.replace(".nii.gz", ".json")).read_text())["classes_present"] == [1, 2]
    native, truth = nib.load(out), nib.load(head["labels"])
    assert native.get_data_dtype() == np.uint8 and native.shape == truth.shape
    assert np.allclose(native.affine, truth.affine)
    back, labels = np.asarray(native.dataobj), np.asarray(truth.dataobj)
    assert set(np.unique(back)) == {0, 1, 2}
    for number, members in ((1, (4, 11)), (2, (52,))):
        assert _dice(back == number, np.isin(labels, members)) > 0.8, f"class {number}"
    assert np.array_equal(np.asarray(nib.load(other).dataobj), back)


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli_main(argv) == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    return message


@pytest.mark.parametrize("bad", ["4d", "fraction", "grid", "above-255", "no-group"])
def test_bad_label_maps_are_refused_on_one_line(
    head: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    source = nib.load(head["labels"])
    data, affine, groups = np.asarray(source.dataobj, np.float32), source.affine, []
    if bad == "4d":
        data = np.stack([data, data], axis=-1)
    elif bad == "fraction":
        data = data * 0.5
    elif bad == "grid":
        affine = affine.copy()
        affine[:3, 3] += 3.0
    elif bad == "above-255":
        data = np.where(data == 99, 300, data)
    else:
        groups = ["--groups", str(tmp_path / "g.tsv")]
        (tmp_path / "g.tsv").write_text("label\tclass\n7\tnothing\n")
    path = tmp_path / f"{STEM}_desc-bad_dseg.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), path)
    out = tmp_path / "out.nii.gz"
    argv = ["resample-labels", "--labels", str(path), "--transforms-json", str(head["transforms"])]
    message = _fails([*argv, *groups, "--out", str(out), "--settings", SETTINGS], capsys)
    assert str(path) in message
    expected = {"4d": "4 dimensions", "fraction": "non-integer", "grid": "not on the grid", "above-255": "--groups"}
    assert expected.get(bad, "no voxel holds a label") in message
    assert not out.exists()


def test_to_native_refuses_before_writing(
    head: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "p.npy", np.zeros((1, *SHAPE), np.uint8))
    (tmp_path / "index.tsv").write_text("participant_id\tsession\nsub-01\tses-1\n")
    (tmp_path / "cohort.tsv").write_text(COHORT)
    transforms, reference = _no_session_copy(head, tmp_path)  # sub-01's: not those of sub-01 ses-1
    index = str(tmp_path / "index.tsv")
    argv = ["segmentation-to-native", "--predicted", str(tmp_path / "p.npy"), "--index", index]
    argv += [
        "--cohort",
        str(tmp_path / "cohort.tsv"),
        "--references",
        str(head["t1w"]),
        "--out-dir",
        str(tmp_path / "d"),
    ]
    argv += ["--desc", "x", "--settings", SETTINGS]
    message = _fails([*argv, "--transforms", str(transforms)], capsys)
    assert "sub-01 session ses-1 has no transforms JSON" in message and index in message
    argv += ["--transforms", str(head["transforms"])]
    wrong = json.dumps({"voxel_mm": VOXEL_MM, "shape": [40, 48, 41]})
    assert "expected (n, 40, 48, 41)" in _fails([*argv, "--settings", wrong], capsys)
    assert "BIDS label" in _fails([*argv, "--desc", "desc-x"], capsys)
    twice = [*argv, "--predicted", str(tmp_path / "p.npy"), str(tmp_path / "p.npy"), "--index", index, index]
    assert "is also predicted in" in _fails(twice, capsys)
    assert "2 --predicted file(s) but 1 --index" in _fails([*twice, "--index", index], capsys)
    (tmp_path / "index.tsv").write_text("participant_id\tsession\nsub-02\tn/a\n")
    assert "sub-02 has no transforms JSON" in _fails(argv, capsys)
    assert not (tmp_path / "d").exists()
