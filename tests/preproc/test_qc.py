"""qc-image writes a real figure; qc-table flags subjects outside the QC limits and lists those it leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.template import template_brain_mask, template_t1w


def test_qc_image_with_mask_and_template_edges(tmp_path: Path) -> None:
    t1 = template_t1w(2)
    nib.save(t1, tmp_path / "t1.nii.gz")
    nib.save(template_brain_mask(2), tmp_path / "mask.nii.gz")
    out = tmp_path / "qc" / "sub-001_T1w.png"
    argv = [
        "qc-image",
        "--image",
        str(tmp_path / "t1.nii.gz"),
        "--mask",
        str(tmp_path / "mask.nii.gz"),
        "--overlay-edges",
        "mni",
        "--out",
        str(out),
        "--title",
        "sub-001 registration",
    ]
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
    assert (
        cli_main(
            [
                "qc-image",
                "--image",
                str(tmp_path / "cfa.nii.gz"),
                "--out",
                str(out),
                "--rgb",
                "--mask",
                str(tmp_path / "none.nii.gz"),
            ]
        )
        == 1
    )


def _record(stem: str, modality: str = "dwi", **changes: float) -> dict:
    """A qc-metrics record of a well-processed subject, with ``changes``."""
    record = {
        "stem": stem,
        "modality": modality,
        "brain_volume_ml": 1500.0,
        "registration_nmi": 1.022,
        "dice_template": 0.945,
        "coverage": 1.0,
    }
    if modality == "dwi":
        record |= {"wm_mean_FA": 0.45, "wm_mean_MD": 0.75e-3, "brain_median_MD": 0.8e-3, "warnings": []}
    return record | changes


@pytest.fixture()
def cohort(tmp_path: Path) -> dict:
    """12 DWI subjects (+ T1w rows): sub-005 a huge brain, sub-008 a failed DWI registration, sub-011 a slab,
    sub-003 low white-matter FA (an outlier, within the limits), sub-012 a b=2000 fit with a warning."""
    spread = np.random.default_rng(1).permutation(np.linspace(-1.5, 1.5, 12))  # deterministic normal-ish variation
    records = []
    for i, spread_i in enumerate(spread, start=1):
        stem = f"sub-{i:03d}" if i != 2 else "sub-002_ses-1"
        changes = {"brain_volume_ml": 1500.0 + 50 * spread_i, "wm_mean_FA": 0.45 + 0.005 * spread_i}
        changes |= {
            5: {"brain_volume_ml": 2600.0},
            8: {"dice_template": 0.85, "registration_nmi": 1.005},
            11: {"coverage": 0.6, "brain_volume_ml": 1000.0},
            3: {"wm_mean_FA": 0.38},
        }.get(i, {})
        record = _record(stem, **changes)
        if i == 12:
            record["warnings"] = ["no diffusion-weighted volume with b <= 1500; fitted the lowest shell (b=2000)"]
        records += [
            record,
            _record(stem, "t1w", brain_volume_ml=record["brain_volume_ml"], coverage=record["coverage"]),
        ]
    paths = []
    for record in records:
        path = tmp_path / "metrics" / f"{record['stem']}_{record['modality']}_qc.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(record))
        paths.append(str(path))
    return {"paths": paths, "tmp": tmp_path}


def _qc_table(cohort: dict, settings: str = "{}") -> tuple[int, pd.DataFrame, pd.DataFrame]:
    out, excluded = cohort["tmp"] / "qc.tsv", cohort["tmp"] / "qc_excluded.tsv"
    code = cli_main(
        [
            "qc-table",
            "--metrics",
            *cohort["paths"],
            "--out",
            str(out),
            "--out-excluded",
            str(excluded),
            "--settings",
            settings,
        ]
    )
    read = lambda path: pd.read_csv(path, sep="\t", keep_default_na=False)  # noqa: E731
    return code, read(out), read(excluded)


def test_qc_table_flags_subjects_outside_the_limits_and_leaves_them_out(cohort: dict) -> None:
    code, table, excluded = _qc_table(cohort)
    assert code == 0
    assert list(table.columns) == [
        "participant_id",
        "session",
        "stem",
        "modality",
        "brain_volume_ml",
        "registration_nmi",
        "dice_template",
        "coverage",
        "wm_mean_FA",
        "wm_mean_MD",
        "brain_median_MD",
        "warnings",
        "flagged",
        "flag_reason",
        "outlier",
        "outlier_reason",
    ]
    assert len(table) == 24 and set(table["modality"]) == {"dwi", "t1w"}
    dwi = table[table["modality"] == "dwi"].set_index("stem")
    assert set(dwi.index[dwi["flagged"] == 1]) == {"sub-005", "sub-008", "sub-011"}
    assert dwi.loc["sub-005", "flag_reason"] == "brain volume 2600 ml (coverage-corrected) outside 900-2400 ml"
    assert dwi.loc["sub-008", "flag_reason"] == "dice_template 0.850 < 0.9; registration_nmi 1.005 < 1.01"
    assert dwi.loc["sub-011", "flag_reason"] == "coverage 0.600 < 0.85"  # 1000 ml / 0.6: a plausible whole brain
    assert dwi.loc["sub-003", "flagged"] == 0 and dwi.loc["sub-003", "outlier_reason"].startswith("wm_mean_FA z=-")
    assert "b=2000" in dwi.loc["sub-012", "warnings"] and dwi.loc["sub-012", "flagged"] == 0
    assert dwi.loc["sub-002_ses-1", "participant_id"] == "sub-002" and dwi.loc["sub-002_ses-1", "session"] == "ses-1"
    assert excluded.columns.tolist() == ["participant_id", "session", "stem", "step", "reason"]
    assert excluded["stem"].tolist() == ["sub-005", "sub-008", "sub-011"] and set(excluded["step"]) == {"qc"}
    # the T1w rows of sub-005 and sub-011 are flagged too (same volume and coverage), and their reasons joined
    assert (
        excluded.set_index("stem").loc["sub-011", "reason"] == "dwi: coverage 0.600 < 0.85; t1w: coverage 0.600 < 0.85"
    )
    assert (
        excluded.set_index("stem").loc["sub-008", "reason"]
        == "dwi: dice_template 0.850 < 0.9; registration_nmi 1.005 < 1.01"
    )


def test_qc_table_keeps_flagged_subjects_when_told(cohort: dict) -> None:
    code, table, excluded = _qc_table(cohort, json.dumps({"on_flag": "keep", "min_coverage": 0.5}))
    assert code == 0 and excluded.empty
    assert set(table.loc[table["flagged"] == 1, "stem"]) == {"sub-005", "sub-008"}


def test_qc_table_errors_are_one_line(cohort: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli_main(
            [
                "qc-table",
                "--metrics",
                *cohort["paths"],
                "--out",
                str(cohort["tmp"] / "x.tsv"),
                "--settings",
                '{"on_flag": "drop"}',
            ]
        )
        == 1
    )
    cohort["paths"].append(cohort["paths"][0])
    assert cli_main(["qc-table", "--metrics", *cohort["paths"], "--out", str(cohort["tmp"] / "x.tsv")]) == 1
    assert (
        cli_main(["qc-table", "--metrics", str(cohort["tmp"] / "none.json"), "--out", str(cohort["tmp"] / "x.tsv")])
        == 1
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and "'exclude', 'keep'" in lines[0]
    assert "sub-001 (dwi): given twice" in lines[1] and "none.json: the QC metrics file does not exist" in lines[2]
    assert not (cohort["tmp"] / "x.tsv").exists()
