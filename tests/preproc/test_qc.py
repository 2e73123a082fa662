"""qc-image writes a real figure; qc-table computes its columns and flags planted outliers."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.resample import model_grid, resample_to_grid
from neuropeft.preproc.template import template_brain_mask, template_tissue, template_t1w


def _ball(shape: tuple[int, int, int], radius: float) -> np.ndarray:
    grid = np.indices(shape) - (np.asarray(shape) - 1)[:, None, None, None] / 2
    return (np.sqrt((grid**2).sum(axis=0)) <= radius).astype(np.uint8)


def test_qc_image_with_mask_and_template_edges(tmp_path: Path) -> None:
    t1 = template_t1w(2)
    nib.save(t1, tmp_path / "t1.nii.gz")
    nib.save(template_brain_mask(2), tmp_path / "mask.nii.gz")
    out = tmp_path / "qc" / "sub-001_T1w.png"
    argv = ["qc-image", "--image", str(tmp_path / "t1.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz"),
            "--overlay-edges", "mni", "--out", str(out), "--title", "sub-001 registration"]
    assert cli_main(argv) == 0
    assert out.stat().st_size > 10_000
    pixels = matplotlib.image.imread(out)[..., :3]
    red = (pixels[..., 0] > 0.8) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    yellow = (pixels[..., 0] > 0.8) & (pixels[..., 1] > 0.8) & (pixels[..., 2] < 0.3)
    grey = (np.abs(pixels[..., 0] - pixels[..., 2]) < 0.02) & (pixels[..., 0] > 0.3)
    assert red.sum() > 200 and yellow.sum() > 200 and grey.sum() > 5000


def test_qc_image_colour_fa(tmp_path: Path) -> None:
    rgb = np.zeros((30, 30, 20, 3), np.float32)
    rgb[5:25, 5:25, 5:15, 0] = 0.8  # a left-right (red) block
    nib.save(nib.Nifti1Image(rgb, np.diag([2.0, 2.0, 2.0, 1.0])), tmp_path / "cfa.nii.gz")
    out = tmp_path / "cfa.png"
    assert cli_main(["qc-image", "--image", str(tmp_path / "cfa.nii.gz"), "--rgb", "--out", str(out)]) == 0
    pixels = matplotlib.image.imread(out)[..., :3]
    assert ((pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.1)).sum() > 1000
    assert cli_main(["qc-image", "--image", str(tmp_path / "cfa.nii.gz"), "--out", str(out), "--rgb", "--mask", str(tmp_path / "none.nii.gz")]) == 1


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """12 subjects; sub-005 has a huge brain, sub-008 a failed registration, sub-011 low white-matter FA."""
    root = tmp_path_factory.mktemp("qc")
    spread = np.random.default_rng(1).permutation(np.linspace(-1.5, 1.5, 12))  # deterministic normal-ish variation
    grid = model_grid(2, [96, 96, 96])
    template_mask = resample_to_grid(template_brain_mask(2), grid, "nearest") > 0.5
    wm = resample_to_grid(template_tissue("wm", 2), grid, "continuous") > 0.5
    subjects = [f"sub-{i:03d}" for i in range(1, 13)]
    files: dict[str, list[str]] = {"--brain-masks": [], "--registrations": [], "--registered-masks": [], "--model-volumes": []}
    for i, sub in enumerate(subjects):
        radius = 30.0 if sub == "sub-005" else 22.0 + 0.3 * spread[i]
        native = root / f"{sub}_mask.nii.gz"
        nib.save(nib.Nifti1Image(_ball((64, 64, 64), radius), np.diag([2.0, 2.0, 2.0, 1.0])), native)
        reg = root / f"{sub}_transforms.json"
        reg.write_text(json.dumps({"similarity": {"nmi": 1.05 if sub == "sub-008" else 1.30 + 0.01 * spread[i]}}))
        shift = 8 if sub == "sub-008" else i % 2
        registered = root / f"{sub}_space-MNI_mask.nii.gz"
        nib.save(nib.Nifti1Image(np.roll(template_mask, shift, axis=1).astype(np.float32)[..., None], grid.affine), registered)
        fa = np.where(wm, (0.30 if sub == "sub-011" else 0.45 + 0.005 * spread[i]), 0.1)
        md = np.where(template_mask, 0.27 + 0.003 * spread[i], 0.0)
        volume = root / f"{sub}_model.nii.gz"
        nib.save(nib.Nifti1Image(np.stack([fa, md], axis=-1).astype(np.float32), grid.affine), volume)
        for key, path in zip(files, (native, reg, registered, volume)):
            files[key].append(str(path))
    return {"root": root, "subjects": subjects, "files": files}


def test_qc_table_columns_and_planted_outliers(cohort: dict, tmp_path: Path) -> None:
    out = tmp_path / "qc.tsv"
    argv = ["qc-table", "--subjects", *cohort["subjects"], "--out", str(out)]
    for key, paths in cohort["files"].items():
        argv += [key, *paths]
    assert cli_main(argv) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False).set_index("participant_id")
    assert list(table.columns) == ["session", "brain_volume_ml", "registration_nmi", "dice_template",
                                   "wm_mean_FA", "wm_mean_MD", "outlier", "outlier_reason"]
    # a 22-voxel-radius ball of 2 mm voxels: 4/3 pi (44 mm)^3 ~ 357 ml
    assert 330 < table.loc["sub-001", "brain_volume_ml"] < 385
    assert table.loc["sub-001", "dice_template"] > 0.95 and table.loc["sub-008", "dice_template"] < 0.9
    assert abs(table.loc["sub-011", "wm_mean_FA"] - 0.30) < 1e-5
    assert set(table.index[table["outlier"] == 1]) == {"sub-005", "sub-008", "sub-011"}
    assert "brain_volume_ml" in table.loc["sub-005", "outlier_reason"]
    assert "registration_nmi" in table.loc["sub-008", "outlier_reason"] and "dice_template" in table.loc["sub-008", "outlier_reason"]
    assert table.loc["sub-011", "outlier_reason"].startswith("wm_mean_FA z=-")


def test_qc_table_list_length_mismatch(cohort: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["qc-table", "--subjects", *cohort["subjects"], "--brain-masks", *cohort["files"]["--brain-masks"][:-1],
            "--out", str(tmp_path / "qc.tsv")]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--brain-masks lists 11 file(s) for 12" in err
