"""Images table: every row's problems found at once, rows excluded with reasons, the table itself refused."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.images_table import check_usable, read_images_table


def _image(path: Path, shape: tuple[int, ...] = (8, 8, 8)) -> str:
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)
    return path.name


def _table(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "images.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def _good_rows(tmp_path: Path, n: int = 6) -> list[dict]:
    return [
        {"path": _image(tmp_path / f"s{i}.nii.gz"), "age": 20 + i, "split": ("train", "val", "test")[i % 3]}
        for i in range(n)
    ]


def test_every_bad_row_is_reported_at_once_and_excluded(tmp_path: Path) -> None:
    rows = _good_rows(tmp_path)
    rows.append({"path": "gone.nii.gz", "age": 30, "split": "train"})
    rows.append({"path": _image(tmp_path / "four.nii.gz", (8, 8, 8, 3)), "age": 31, "split": "val"})
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    rows.append({"path": "empty.nii.gz", "age": 32, "split": "test"})
    rows.append({"path": rows[0]["path"], "age": 33, "split": "train"})  # same file name -> same participant_id
    rows.append({"path": _image(tmp_path / "t.nii.gz"), "age": "unknown", "split": "tset"})
    rows.append({"path": _image(tmp_path / "u.nii.gz"), "age": "", "split": "train"})
    images = read_images_table(_table(tmp_path, rows), "age")
    assert len(images.rows) == 5  # s0 and its duplicate both go
    excluded = dict(zip(images.excluded["participant_id"], images.excluded["reason"], strict=True))
    assert set(excluded) == {"gone", "four", "empty", "s0", "t", "u"}
    assert "path file gone.nii.gz does not exist" in excluded["gone"]
    assert "must be one 3D volume but has shape (8, 8, 8, 3)" in excluded["four"]
    assert "empty.nii.gz" in excluded["empty"]
    duplicates = images.excluded.loc[images.excluded["participant_id"] == "s0", "reason"].tolist()
    assert [reason.split(";")[0] for reason in duplicates] == [
        "is the same participant_id/session as line(s) 11",
        "is the same participant_id/session as line(s) 2",
    ]
    assert "value 'unknown' where the others are numbers" in excluded["t"] and "split 'tset'" in excluded["t"]
    assert "no value for the target 'age'" in excluded["u"]
    assert len(images.problems) == 8  # t has two
    assert images.problems[0].path_or_subject.endswith("images.tsv line 2 (s0)")
    assert images.summary() == "7 of 12 rows excluded"
    with pytest.raises(NeuropeftError, match=r"8 problems in .*images.tsv; fix them or drop those rows:\n"):
        images.refuse_problems("images.tsv")


def test_valid_rows_carry_ids_sites_and_absolute_paths(tmp_path: Path) -> None:
    rows = [
        {**row, "participant_id": f"sub-{i}", "scanner": "A" if i < 3 else "B"}
        for i, row in enumerate(_good_rows(tmp_path))
    ]
    images = read_images_table(_table(tmp_path, rows), "age", site_column="scanner")
    assert images.problems == [] and images.fixed_split and images.target_kind == "continuous"
    assert images.rows["participant_id"].tolist() == [f"sub-{i}" for i in range(6)]
    assert images.rows["site"].tolist() == ["A", "A", "A", "B", "B", "B"]
    assert images.image_paths() == [str((tmp_path / f"s{i}.nii.gz").resolve()) for i in range(6)]


def test_a_fixed_split_needs_every_part_and_every_class_in_val_and_test(tmp_path: Path) -> None:
    rows = _good_rows(tmp_path)
    check_usable(read_images_table(_table(tmp_path, rows), "age"), "t", classification=False)
    no_val = [{**row, "split": "train" if row["split"] == "val" else row["split"]} for row in rows]
    with pytest.raises(NeuropeftError, match="no valid val row in the split column"):
        check_usable(read_images_table(_table(tmp_path, no_val), "age"), "t", classification=False)
    labels = [{**row, "dx": "1" if row["split"] == "test" else str(i % 2)} for i, row in enumerate(rows)]
    with pytest.raises(NeuropeftError, match="the test split has no row of class 0"):
        check_usable(read_images_table(_table(tmp_path, labels), "dx"), "t", classification=True)


def test_validate_table_step_writes_the_cohort_and_the_excluded_rows(tmp_path: Path) -> None:
    rows = [*_good_rows(tmp_path), {"path": "gone.nii.gz", "age": 30, "split": "train"}]
    cohort, excluded = tmp_path / "cohort.tsv", tmp_path / "excluded.tsv"
    arguments = ["--table", str(_table(tmp_path, rows)), "--target", "age", "--task", "regression"]
    assert cli_main(["validate-table", *arguments, "--out-cohort", str(cohort), "--out-excluded", str(excluded)]) == 0
    written = pd.read_csv(cohort, sep="\t", dtype=str, keep_default_na=False)
    assert list(written.columns) == ["participant_id", "session", "site", "target", "split", "path"]
    assert written["target"].tolist() == [str(20 + i) for i in range(6)]
    assert pd.read_csv(excluded, sep="\t")["participant_id"].tolist() == ["gone"]


def test_an_event_column_makes_each_target_a_time_to_event_outcome(tmp_path: Path) -> None:
    rows = [
        {"path": _image(tmp_path / "a.nii.gz"), "years": 4.5, "died": 1},
        {"path": _image(tmp_path / "b.nii.gz"), "years": 10, "died": 0},
        {"path": _image(tmp_path / "c.nii.gz"), "years": -1, "died": 1},
        {"path": _image(tmp_path / "d.nii.gz"), "years": 3, "died": "maybe"},
        {"path": _image(tmp_path / "e.nii.gz"), "years": "", "died": 1},
    ]
    images = read_images_table(_table(tmp_path, rows), "years", event_column="died")
    assert dict(zip(images.rows["participant_id"], images.rows["target"], strict=True)) == {"a": "4.5:1", "b": "10:0"}
    excluded = dict(zip(images.excluded["participant_id"], images.excluded["reason"], strict=True))
    assert "time '-1' must be a positive number ('years', 'died')" in excluded["c"]
    assert "event 'maybe' must be 1 (event) or 0 (censored)" in excluded["d"]
    assert "no value for the target 'years'" in excluded["e"]
    with pytest.raises(NeuropeftError, match="lacks column"):
        read_images_table(_table(tmp_path, rows), "years", event_column="status")


def test_covariate_columns_are_checked_and_kept(tmp_path: Path) -> None:
    rows = [
        {"path": _image(tmp_path / "a.nii.gz"), "diagnosis": 1, "age": 30, "sex": "F"},
        {"path": _image(tmp_path / "b.nii.gz"), "diagnosis": 0, "age": "", "sex": "M"},
    ]
    images = read_images_table(_table(tmp_path, rows), "diagnosis", covariates=["age", "sex"])
    assert images.rows[["participant_id", "age", "sex"]].values.tolist() == [["a", "30", "F"]]
    assert "has no value for covariate 'age'" in images.excluded.set_index("participant_id").loc["b", "reason"]
    with pytest.raises(NeuropeftError, match="lacks column"):
        read_images_table(_table(tmp_path, rows), "diagnosis", covariates=["bmi"])
