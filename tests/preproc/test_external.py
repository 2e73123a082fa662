"""stack-table: images prepared elsewhere resampled to the model shape and stacked; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.resample import model_grid, resample_to_grid
from neuropeft.preproc.template import template_brain_mask


def _write_table(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "images.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def _mni_maps(tmp_path: Path, n: int) -> list[dict]:
    """FA/MD maps in MNI space on the 1 mm-ish template grid (here 3 mm), FA = 0.1 * (i + 1) in the brain."""
    mask = template_brain_mask(3)
    brain = np.asarray(mask.dataobj) > 0
    rows = []
    for i in range(n):
        fa, md = tmp_path / f"s{i}_FA.nii.gz", tmp_path / f"s{i}_MD.nii.gz"
        nib.save(nib.Nifti1Image(np.where(brain, 0.1 * (i + 1), 0).astype(np.float32), mask.affine), fa)
        nib.save(nib.Nifti1Image(np.where(brain, 9e-4, 0).astype(np.float32), mask.affine), md)
        rows.append(
            {
                "participant_id": f"sub-{i:02d}",
                "path_fa": fa.name,
                "path_md": str(md),
                "target": i % 2,
                "split": "train",
            }
        )
    return rows


def _run(table: Path, tmp_path: Path, settings: dict) -> int:
    return cli_main(
        [
            "stack-table",
            "--table",
            str(table),
            "--out-array",
            str(tmp_path / "x.npy"),
            "--out-index",
            str(tmp_path / "x.tsv"),
            "--settings",
            json.dumps(settings),
        ]
    )


def test_template_grid_two_channels(tmp_path: Path) -> None:
    table = _write_table(tmp_path, _mni_maps(tmp_path, 3))
    assert _run(table, tmp_path, {"normalise": ["fa", "md"], "shape": [80, 96, 80], "interpolation": "nearest"}) == 0
    array = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert array.shape == (3, 2, 80, 96, 80) and array.dtype == np.float32
    brain = resample_to_grid(template_brain_mask(2), model_grid(2, [80, 96, 80]), "nearest") > 0.5
    for i in range(3):
        inside = array[i, 0][brain]
        assert np.mean(np.isclose(inside, 0.1 * (i + 1))) > 0.95  # 3 mm -> 2 mm edges differ slightly
        assert np.allclose(array[i, 1][array[i, 1] > 0], 0.3, atol=1e-6)
    index = pd.read_csv(tmp_path / "x.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(index.columns) == ["row", "participant_id", "session", "target", "site", "split"]
    assert (
        index["participant_id"].tolist() == ["sub-00", "sub-01", "sub-02"] and index["session"].tolist() == ["n/a"] * 3
    )


def test_native_grid_single_path_zscore(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    affine = np.diag([1.2, 1.2, 1.5, 1.0])
    affine[:3, 3] = [300.0, -20.0, 5.0]  # far from the template: the native grid follows the image
    rows = []
    for i in range(2):
        data = np.zeros((60, 70, 40), np.float32)
        data[10:50, 10:60, 5:35] = rng.normal(100 + 10 * i, 15, (40, 50, 30))
        nib.save(nib.Nifti1Image(data, affine), tmp_path / f"t1_{i}.nii.gz")
        rows.append({"path": f"t1_{i}.nii.gz", "target": 50.0 + i})
    table = _write_table(tmp_path, rows)
    assert _run(table, tmp_path, {"grid": "native", "shape": [48, 48, 40], "normalise": ["zscore"]}) == 0
    array = np.load(tmp_path / "x.npy")
    assert array.shape == (2, 1, 48, 48, 40)
    for i in range(2):
        inside = array[i, 0][array[i, 0] != 0]
        assert inside.size > 0.9 * (40 * 1.2 / 2) * (50 * 1.2 / 2) * (30 * 1.5 / 2)  # block fully inside
        assert abs(inside.mean()) < 0.05 and abs(inside.std() - 1) < 0.05
    index = pd.read_csv(tmp_path / "x.tsv", sep="\t")
    assert index["participant_id"].tolist() == ["t1_0", "t1_1"] and index["target"].tolist() == [50.0, 51.0]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_file", "line 3 (sub-01): path_fa file s1_FA.nii.gz does not exist"),
        ("no_target", "lacks column(s) ['target']"),
        ("no_path", "no image column"),
        ("normalise", "normalise has 1 entries"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str) -> None:
    rows = _mni_maps(tmp_path, 2)
    settings: dict = {}
    if case == "missing_file":
        (tmp_path / "s1_FA.nii.gz").unlink()
    elif case == "no_target":
        rows = [{k: v for k, v in row.items() if k != "target"} for row in rows]
    elif case == "no_path":
        rows = [{k: v for k, v in row.items() if not k.startswith("path")} for row in rows]
    else:
        settings = {"normalise": ["fa"]}
    assert _run(_write_table(tmp_path, rows), tmp_path, settings) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "x.tsv").exists()
