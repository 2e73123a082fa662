"""qc-metrics: coverage of a partial field of view, Dice inside it, and FA/MD averaged over covered voxels only."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.preproc.template import template_brain_mask, template_tissue

FA_WM, FA_OTHER, MD_BRAIN = 0.5, 0.1, 0.8e-3


def _identity_registration(folder: Path) -> Path:
    """A register-style transforms JSON whose forward transform is the identity."""
    import ants

    ants.write_transform(
        ants.create_ants_transform(transform_type="AffineTransform", dimension=3), str(folder / "id.mat")
    )
    record = {
        "forward": {"transformlist": ["id.mat"], "whichtoinvert": [False]},
        "inverse": {"transformlist": ["id.mat"], "whichtoinvert": [True]},
        "similarity": {"nmi": 1.02, "correlation": 0.9},
    }
    path = folder / "reg_transforms.json"
    path.write_text(json.dumps(record))
    return path


def _subject(folder: Path, slab: slice) -> dict[str, Path]:
    """Brain mask, FA and MD on the template grid, cut to the axial slices ``slab`` (its field of view)."""
    mask_img = template_brain_mask(2)
    brain = np.asarray(mask_img.dataobj) > 0
    wm = np.asarray(template_tissue("wm", 2).dataobj) > 0.5
    maps = {
        "mask": brain.astype(np.uint8),
        "fa": np.where(brain, np.where(wm, FA_WM, FA_OTHER), 0.0),
        "md": np.where(brain, MD_BRAIN, 0.0),
    }
    shift = np.eye(4)
    shift[2, 3] = slab.start
    paths = {}
    for name, data in maps.items():
        paths[name] = folder / f"{name}.nii.gz"
        nib.save(
            nib.Nifti1Image(
                data[:, :, slab].astype(np.float32 if name != "mask" else np.uint8), mask_img.affine @ shift
            ),
            paths[name],
        )
    return paths


def _qc_metrics(folder: Path, paths: dict[str, Path], modality: str = "dwi") -> dict:
    out = folder / "qc.json"
    maps = ["--fa", str(paths["fa"]), "--md", str(paths["md"])] if modality == "dwi" else []
    argv = [
        "qc-metrics",
        "--subject",
        "sub-001",
        "--modality",
        modality,
        "--mask",
        str(paths["mask"]),
        "--transforms",
        str(_identity_registration(folder)),
        *maps,
        "--out",
        str(out),
    ]
    assert cli_main(argv) == 0
    return json.loads(out.read_text())


def test_whole_brain_is_fully_covered(tmp_path: Path) -> None:
    figures = _qc_metrics(tmp_path, _subject(tmp_path, slice(0, None)))
    assert figures["stem"] == "sub-001" and figures["modality"] == "dwi"
    assert figures["coverage"] > 0.999 and figures["dice_template"] > 0.999 and figures["registration_nmi"] == 1.02
    assert abs(figures["wm_mean_FA"] - FA_WM) < 0.01 and abs(figures["brain_median_MD"] - MD_BRAIN) < 1e-6
    assert 1500 < figures["brain_volume_ml"] < 2200 and figures["warnings"] == []


def test_a_slab_is_partial_coverage_and_outside_it_is_missing_not_zero(tmp_path: Path) -> None:
    slab = slice(30, 62)  # 32 axial slices of 2 mm: a 64 mm slab like the Philips DWI
    brain = np.asarray(template_brain_mask(2).dataobj) > 0
    share = brain[:, :, slab].sum() / brain.sum()
    paths = _subject(tmp_path, slab)
    (tmp_path / "fa.json").write_text(json.dumps({"warnings": ["fitted the lowest shell (b=2000)"]}))
    figures = _qc_metrics(tmp_path, paths)
    assert 0.3 < share < 0.8 and abs(figures["coverage"] - share) < 0.02
    assert figures["dice_template"] > 0.99  # the slab's brain matches the template's brain inside the field of view
    assert abs(figures["wm_mean_FA"] - FA_WM) < 0.01  # averaging in the uncovered template white matter would give ~0.2
    assert abs(figures["wm_mean_MD"] - MD_BRAIN) < 1e-6 and abs(figures["brain_median_MD"] - MD_BRAIN) < 1e-6
    assert figures["warnings"] == ["fitted the lowest shell (b=2000)"]


def test_t1w_has_no_tensor_figures_and_dwi_needs_the_maps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _subject(tmp_path, slice(0, None))
    figures = _qc_metrics(tmp_path, paths, modality="t1w")
    assert "wm_mean_FA" not in figures and figures["coverage"] > 0.999
    argv = [
        "qc-metrics",
        "--subject",
        "sub-001",
        "--modality",
        "dwi",
        "--mask",
        str(paths["mask"]),
        "--transforms",
        str(tmp_path / "reg_transforms.json"),
        "--out",
        str(tmp_path / "x.json"),
    ]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert (
        "\n" not in err and "sub-001: --modality dwi needs --fa and --md" in err and not (tmp_path / "x.json").exists()
    )
