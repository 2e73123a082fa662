"""stack: memmap round trip, cohort-order index, stem matching errors."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.stack import INDEX_COLUMNS

SHAPE = (6, 7, 5, 2)


def _cohort(tmp_path: Path) -> tuple[Path, list[Path], dict[str, np.ndarray]]:
    rows = [
        ("sub-003", "", "sub-003", 1, "A"),
        ("sub-001", "ses-1", "sub-001_ses-1", 0, "B"),
        ("sub-001", "ses-2", "sub-001_ses-2", 1, ""),
    ]
    table = pd.DataFrame(rows, columns=["participant_id", "session", "stem", "diagnosis", "site"])
    table["age"] = [30.5, 40.0, 41.0]
    cohort = tmp_path / "cohort.tsv"
    table.to_csv(cohort, sep="\t", index=False)
    rng = np.random.default_rng(0)
    data, paths = {}, []
    for stem in sorted(table["stem"]):  # deliberately not the cohort order
        data[stem] = rng.normal(size=SHAPE).astype(np.float32)
        path = tmp_path / "vol" / f"{stem}_model.nii.gz"
        path.parent.mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(data[stem], np.eye(4)), path)
        paths.append(path)
    return cohort, paths, data


def test_round_trip_in_cohort_order(tmp_path: Path) -> None:
    cohort, paths, data = _cohort(tmp_path)
    out_array, out_index = tmp_path / "model_input.npy", tmp_path / "model_input.tsv"
    argv = [
        "stack-model-input",
        "--volumes",
        *map(str, paths),
        "--cohort",
        str(cohort),
        "--target",
        "diagnosis",
        "--out-array",
        str(out_array),
        "--out-index",
        str(out_index),
    ]
    assert cli_main(argv) == 0
    array = np.load(out_array, mmap_mode="r")
    assert isinstance(array, np.memmap) and array.dtype == np.float32 and array.shape == (3, 2, 6, 7, 5)
    index = pd.read_csv(out_index, sep="\t", dtype=str, keep_default_na=False)
    assert list(index.columns) == INDEX_COLUMNS
    assert index["participant_id"].tolist() == ["sub-003", "sub-001", "sub-001"]
    assert index["session"].tolist() == ["n/a", "ses-1", "ses-2"]
    assert index["target"].tolist() == ["1", "0", "1"] and index["site"].tolist() == ["A", "B", "n/a"]
    for row, stem in enumerate(["sub-003", "sub-001_ses-1", "sub-001_ses-2"]):
        assert np.array_equal(array[row], np.moveaxis(data[stem], -1, 0))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "cohort.tsv",
        "model_input.npy",
        "model_input.tsv",
    ]


def test_regression_target_column(tmp_path: Path) -> None:
    cohort, paths, _ = _cohort(tmp_path)
    argv = [
        "stack-model-input",
        "--volumes",
        *map(str, paths),
        "--cohort",
        str(cohort),
        "--target",
        "age",
        "--out-array",
        str(tmp_path / "a.npy"),
        "--out-index",
        str(tmp_path / "a.tsv"),
    ]
    assert cli_main(argv) == 0
    assert pd.read_csv(tmp_path / "a.tsv", sep="\t")["target"].tolist() == [30.5, 40.0, 41.0]


@pytest.mark.parametrize(
    "case, expected", [("missing", "matches 0 volume"), ("extra", "matches no cohort row"), ("column", "lacks column")]
)
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str) -> None:
    cohort, paths, _ = _cohort(tmp_path)
    target = "diagnosis"
    if case == "missing":
        paths = paths[1:]
    elif case == "extra":
        extra = tmp_path / "vol" / "sub-009_model.nii.gz"
        extra.write_bytes(paths[0].read_bytes())
        paths = [*paths, extra]
    else:
        target = "dx"
    argv = [
        "stack-model-input",
        "--volumes",
        *map(str, paths),
        "--cohort",
        str(cohort),
        "--target",
        target,
        "--out-array",
        str(tmp_path / "a.npy"),
        "--out-index",
        str(tmp_path / "a.tsv"),
    ]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err
    assert not (tmp_path / "a.npy").exists()


def test_failed_subjects_are_left_out(tmp_path: Path) -> None:
    cohort, paths, data = _cohort(tmp_path)
    failures = tmp_path / "failures.tsv"
    failures.write_text("participant_id\tsession\tstem\tstep\treason\nsub-001\tses-1\tsub-001_ses-1\tn4_dwi\tblank\n")
    kept = [p for p in paths if not p.name.startswith("sub-001_ses-1")]
    argv = [
        "stack-model-input",
        "--volumes",
        *map(str, kept),
        "--cohort",
        str(cohort),
        "--target",
        "diagnosis",
        "--failures",
        str(failures),
        "--out-array",
        str(tmp_path / "a.npy"),
        "--out-index",
        str(tmp_path / "a.tsv"),
    ]
    assert cli_main(argv) == 0
    index = pd.read_csv(tmp_path / "a.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert index["participant_id"].tolist() == ["sub-003", "sub-001"] and index["session"].tolist() == ["n/a", "ses-2"]
    assert np.array_equal(np.load(tmp_path / "a.npy")[1], np.moveaxis(data["sub-001_ses-2"], -1, 0))
    failures.write_text(
        "participant_id\tsession\tstem\tstep\treason\n"
    )  # nobody failed: the missing volume is an error
    assert cli_main(argv) == 1


def test_subjects_the_qc_left_out_are_not_stacked(tmp_path: Path) -> None:
    cohort, paths, data = _cohort(tmp_path)
    failures, qc_excluded = tmp_path / "failures.tsv", tmp_path / "qc_excluded.tsv"
    failures.write_text("participant_id\tsession\tstem\tstep\treason\n")
    qc_excluded.write_text(
        "participant_id\tsession\tstem\tstep\treason\nsub-003\tn/a\tsub-003\tqc\tdwi: coverage 0.600 < 0.85\n"
    )
    argv = [
        "stack-model-input",
        "--volumes",
        *map(str, paths),
        "--cohort",
        str(cohort),
        "--target",
        "diagnosis",
        "--failures",
        str(failures),
        "--qc-excluded",
        str(qc_excluded),
        "--out-array",
        str(tmp_path / "a.npy"),
        "--out-index",
        str(tmp_path / "a.tsv"),
    ]
    assert cli_main(argv) == 0  # the left-out subject's volume is passed and ignored
    index = pd.read_csv(tmp_path / "a.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert index["participant_id"].tolist() == ["sub-001", "sub-001"] and index["row"].tolist() == ["0", "1"]
    assert np.array_equal(np.load(tmp_path / "a.npy")[0], np.moveaxis(data["sub-001_ses-1"], -1, 0))


def test_optional_modalities_add_a_presence_column_read_from_the_sidecars(tmp_path: Path) -> None:
    from neuropeft.learn.folds import read_index

    cohort, paths, _ = _cohort(tmp_path)
    for path in paths:  # sub-001_ses-2 lacks its DWI (combine-channels wrote zeros there)
        absent = ["dwi"] if path.name.startswith("sub-001_ses-2") else []
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps({"absent": absent}))
    out_array, out_index = tmp_path / "model_input.npy", tmp_path / "model_input.tsv"
    argv = ["stack-model-input", "--volumes", *map(str, paths), "--cohort", str(cohort), "--target", "diagnosis"]
    argv += ["--optional-modalities", "dwi", "--out-array", str(out_array), "--out-index", str(out_index)]
    assert cli_main(argv) == 0
    index = pd.read_csv(out_index, sep="\t", dtype=str, keep_default_na=False)
    assert list(index.columns) == [*INDEX_COLUMNS, "has_dwi"]
    assert index["has_dwi"].tolist() == ["1", "1", "0"]
    read = read_index(out_index)  # the training's reader takes the extra column
    assert read["row"].tolist() == [0, 1, 2] and read["has_dwi"].tolist() == ["1", "1", "0"]


def test_a_volume_without_sidecar_is_a_one_line_error_with_optional_modalities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort, paths, _ = _cohort(tmp_path)
    argv = ["stack-model-input", "--volumes", *map(str, paths), "--cohort", str(cohort), "--target", "diagnosis"]
    argv += [
        "--optional-modalities",
        "dwi",
        "--out-array",
        str(tmp_path / "a.npy"),
        "--out-index",
        str(tmp_path / "a.tsv"),
    ]
    assert cli_main(argv) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "run combine-channels again" in error
