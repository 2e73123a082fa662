"""stack-labels: index order, other subjects' maps ignored, a missing map refused, classes named."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main

SHAPE = (4, 5, 6)
AFFINE = np.diag([6.0, 6.0, 6.0, 1.0])
COHORT = (
    "participant_id\tsession\tstem\ttarget\n"
    "sub-01\t\tsub-01\t1\nsub-02\t\tsub-02\t0\nsub-03\t\tsub-03\t1\nsub-04\t\tsub-04\t0\nsub-10\t\tsub-10\t1\n"
)
#: the model-input index: sub-02 left out by the QC, rows not in cohort order
INDEX = "row\tparticipant_id\tsession\ttarget\tsite\n0\tsub-03\tn/a\t1\tA\n1\tsub-01\tn/a\t1\tA\n2\tsub-04\tn/a\t0\tB\n"
GROUPS = "label\tclass\n4\tventricles\n11\tventricles\n52\twhite-matter\n"


def _label_map(number: int) -> np.ndarray:
    """Subject ``number``'s class map: class 1 at voxel (0, 0, number % 6) (to find it again), class 2 at a corner."""
    data = np.zeros(SHAPE, np.uint8)
    data[0, 0, number % 6] = 1
    data[3, 4, 5] = 2
    return data


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path | list[Path]]:
    (tmp_path / "cohort.tsv").write_text(COHORT)
    (tmp_path / "index.tsv").write_text(INDEX)
    (tmp_path / "groups.tsv").write_text(GROUPS)
    files = []
    for number in (1, 2, 3, 4, 10):
        path = tmp_path / f"sub-{number:02d}_space-MNI_dseg.nii.gz"
        nib.save(nib.Nifti1Image(_label_map(number), AFFINE), path)
        files.append(path)
    return {"root": tmp_path, "files": files}


def _argv(inputs: dict, files: list[Path], groups: bool = True) -> list[str]:
    root = inputs["root"]
    argv = ["stack-labels", "--labels", *map(str, files), "--index", str(root / "index.tsv")]
    argv += ["--cohort", str(root / "cohort.tsv"), "--out-array", str(root / "labels.npy")]
    argv += ["--out-classes", str(root / "classes.tsv")]
    return argv + (["--groups", str(root / "groups.tsv")] if groups else [])


def test_stack_follows_the_index_and_names_the_groups(inputs: dict) -> None:
    root = inputs["root"]
    assert cli_main(_argv(inputs, inputs["files"][::-1])) == 0
    labels = np.load(root / "labels.npy")
    assert labels.dtype == np.uint8 and labels.shape == (3, *SHAPE)
    assert np.argmax(labels[:, 0, 0, :] == 1, axis=1).tolist() == [3, 1, 4]  # sub-02 and sub-10 ignored
    assert np.all(labels[:, 3, 4, 5] == 2)
    assert (root / "classes.tsv").read_text() == "class\tname\n1\tventricles\n2\twhite-matter\n"


def test_without_groups_classes_run_to_the_largest_label(inputs: dict) -> None:
    root = inputs["root"]
    assert cli_main(_argv(inputs, inputs["files"], groups=False)) == 0
    assert (root / "classes.tsv").read_text() == "class\tname\n1\tlabel-1\n2\tlabel-2\n"


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli_main(argv) == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    return message


def test_an_index_row_without_a_map_is_refused(inputs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    root = inputs["root"]
    message = _fails(_argv(inputs, [f for f in inputs["files"] if "sub-04" not in f.name]), capsys)
    assert "sub-04 has no label map" in message and str(root / "index.tsv") in message
    assert not (root / "labels.npy").exists() and not (root / "classes.tsv").exists()


def test_maps_of_other_classes_or_grids_are_refused(inputs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    root, files = inputs["root"], inputs["files"]
    (root / "groups.tsv").write_text("label\tclass\n4\tventricles\n")  # one class: 2 is outside
    message = _fails(_argv(inputs, files), capsys)
    assert "class 2 is outside the classes of" in message and "sub-03" in message
    (root / "groups.tsv").write_text("label\tclass\n4\tcsf\n52\twm\n")
    sidecar = {"step": "resample-labels", "classes": ["ventricles", "white-matter"]}
    (root / "sub-01_space-MNI_dseg.json").write_text(json.dumps(sidecar))
    assert "resampled into classes ['ventricles', 'white-matter']" in _fails(_argv(inputs, files), capsys)
    nib.save(nib.Nifti1Image(_label_map(1), np.diag([4.0, 4.0, 4.0, 1.0])), files[0])
    assert "not on the grid" in _fails(_argv(inputs, files, groups=False), capsys)
    assert not (root / "labels.npy").exists()
