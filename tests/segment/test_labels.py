"""Label maps keep their labels on another grid, line up with the image, group into classes and go back."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.resample import resample_to_grid
from neuropeft.segment.labels import LabelGroups, load_labels, read_label_groups, resample_labels, to_native

#: a native grid like DLMUSE's: 1.2 mm voxels, axes permuted and flipped (voxel i runs along -y ...)
NATIVE_AFFINE = np.array([[0.0, 0.0, 1.2, -40.0], [-1.2, 0.0, 0.0, 45.0], [0.0, 1.2, 0.0, -38.0], [0, 0, 0, 1]])
NATIVE_SHAPE = (64, 60, 56)


def _model_grid(voxel: float = 2.0, shape: tuple[int, ...] = (40, 40, 40)) -> nib.Nifti1Image:
    """An RAS grid centred on the world origin."""
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = -voxel * (np.asarray(shape) - 1) / 2
    return nib.Nifti1Image(np.zeros(shape, np.uint8), affine)


def _ball(centre: tuple[float, ...], radius: float, shape: tuple[int, ...] = NATIVE_SHAPE) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    return np.linalg.norm(grid - np.asarray(centre), axis=-1) <= radius


def _world_centre(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return nib.affines.apply_affine(affine, np.argwhere(mask).mean(axis=0))


def test_resampled_labels_hold_only_input_labels() -> None:
    data = np.zeros(NATIVE_SHAPE, np.int32)
    for value, centre in ((3, (20, 20, 20)), (7, (40, 30, 30)), (42, (30, 40, 25))):
        data[_ball(centre, 9)] = value
    data[_ball((30, 30, 30), 4)] = 200  # touching every other label: linear interpolation would mix them
    out = resample_labels(nib.Nifti1Image(data, NATIVE_AFFINE), _model_grid(1.7))
    assert out.dtype == np.int32
    assert set(np.unique(out)) == {0, 3, 7, 42, 200}


def test_resampled_labels_line_up_with_the_resampled_image() -> None:
    cube = np.zeros(NATIVE_SHAPE, bool)
    cube[10:30, 22:40, 30:44] = True
    grid = _model_grid(2.0)
    image = resample_to_grid(nib.Nifti1Image(cube.astype(np.float32) * 100, NATIVE_AFFINE), grid, "continuous")
    labels = resample_labels(nib.Nifti1Image(cube.astype(np.int32) * 5, NATIVE_AFFINE), grid)
    image_centre = _world_centre(image > 50, grid.affine)
    label_centre = _world_centre(labels == 5, grid.affine)
    assert np.linalg.norm(image_centre - label_centre) < 2.0  # within a model voxel
    assert np.linalg.norm(label_centre - _world_centre(cube, NATIVE_AFFINE)) < 2.0


def test_to_native_round_trips_a_blob() -> None:
    blob = _ball((30, 28, 26), 12) & ~_ball((36, 28, 26), 5)  # a ball with a hollow, off-centre
    native = nib.Nifti1Image(np.zeros(NATIVE_SHAPE, np.float32), NATIVE_AFFINE)
    grid = _model_grid(1.5, (48, 48, 48))
    on_grid = resample_labels(nib.Nifti1Image(blob.astype(np.int32) * 2, NATIVE_AFFINE), grid)
    back = to_native(on_grid, grid, native)
    assert back.shape == NATIVE_SHAPE and np.allclose(back.affine, NATIVE_AFFINE)
    assert back.get_data_dtype() == np.uint8
    result = np.asarray(back.dataobj) == 2
    assert set(np.unique(back.dataobj)) == {0, 2}
    assert 2 * (result & blob).sum() / (result.sum() + blob.sum()) > 0.9


def test_load_labels_accepts_integers_stored_as_float_and_refuses_fractions(tmp_path: Path) -> None:
    good, bad = tmp_path / "good_dseg.nii.gz", tmp_path / "bad_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.array([[[0.0, 4.0], [7.0, 0.0]]], np.float32), np.eye(4)), good)
    nib.save(nib.Nifti1Image(np.array([[[0.0, 0.5], [7.0, 0.0]]], np.float32), np.eye(4)), bad)
    assert set(np.unique(load_labels(good).dataobj)) == {0, 4, 7}
    with pytest.raises(NeuropeftError, match="bad_dseg.nii.gz.*non-integer"):
        load_labels(bad)


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "groups.tsv"
    path.write_text(text)
    return path


def test_grouping_table_numbers_classes_in_order_of_first_appearance(tmp_path: Path) -> None:
    groups = read_label_groups(_table(tmp_path, "label\tclass\n51\tventricles\n81\twm\n52\tventricles\n4\tgm\n"))
    assert groups.classes == ("ventricles", "wm", "gm") and groups.num_classes == 4
    source = np.array([[[0, 51, 52, 81], [4, 99, 81, 51]]])
    assert groups.apply(source).tolist() == [[[0, 1, 1, 2], [3, 0, 2, 1]]]


def test_a_bids_look_up_table_is_one_class_per_label(tmp_path: Path) -> None:
    path = tmp_path / "desc-tissue_dseg.tsv"
    path.write_text("index\tname\n1\tCSF\n2\tGM\n3\tWM\n")
    groups = read_label_groups(path)
    assert groups.classes == ("CSF", "GM", "WM") and groups.class_of == {1: 1, 2: 2, 3: 3}


def test_groups_from_labels_keep_every_label() -> None:
    groups = LabelGroups.from_labels([0, 7, 3, 7])
    assert groups.classes == ("3", "7")
    assert groups.apply(np.array([0, 3, 7, 5])).tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("label\tname\n4\tgm\n", r"lacks column\(s\) \['class'\]"),
        ("label\tclass\n4\tgm\nfour\twm\n", "line 3: label 'four' is not a non-negative integer"),
        ("label\tclass\n4\tgm\n-1\twm\n", "line 3: label '-1'"),
        ("label\tclass\n4\tgm\n4\twm\n", "line 3: label 4 is already in class 'gm'"),
        ("label\tclass\n4\t\n", "line 2: label 4 has an empty class"),
        ("label\tclass\n", "has no rows"),
    ],
)
def test_grouping_table_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _table(tmp_path, text)
    with pytest.raises(NeuropeftError, match=message) as error:
        read_label_groups(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_grouping_table(tmp_path: Path) -> None:
    with pytest.raises(NeuropeftError, match="nowhere.tsv does not exist"):
        read_label_groups(tmp_path / "nowhere.tsv")
