"""Real scans through the package's own steps (as the rules call them) and the QC.

* 10 real IXI heads (../shared/data/real/ixi10): none is flagged by the QC limits, while one of
  them whose registration is made to fail (its header tilted 30 degrees, registered with a
  centre-of-mass start and 0 iterations) is flagged, left out of the model input and listed.
* The Philips DWI slab (../shared/data/real/dwi_philips): white-matter FA inside the slab, median
  brain MD and the slab's partial coverage of the template brain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

REAL = Path(os.environ.get("NEUROPEFT_REAL_DATA", "/work/shared/data/real"))
IXI10 = REAL / "ixi10"
PHILIPS = REAL / "dwi_philips" / "sub-philips" / "dwi" / "sub-philips_dwi"
FAILED = "sub-IXI012HH1211"  # the head whose registration is made to fail
FAILED_STEM = "sub-failed"
TILTED_STEM = "sub-tilted"  # the same head tilted 30 degrees, registered with the default settings

pytestmark = pytest.mark.slow


def neuropeft(*argv: str | Path) -> None:
    """``python -m neuropeft ARGV`` as a rule runs it (one thread); fails the test with its stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "neuropeft", *map(str, argv)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, f"neuropeft {argv[0]}: {result.stderr[-2000:]}"


def t1w_chain(t1w: Path, out: Path, stem: str, registration: dict | None = None) -> dict[str, Path]:
    """n4-t1w, skullstrip-t1w, register, resample and qc-metrics of one head; returns the QC JSON and model volume."""
    prefix = out / stem
    reg = f"{prefix}_from-T1w_to-MNI152NLin2009aSym"
    files = {
        "qc": out / f"{stem}_t1w_qc.json",
        "volume": out / f"{stem}_space-MNI152NLin2009aSym_desc-t1w_model.nii.gz",
    }
    neuropeft(
        "n4-t1w",
        "--t1w",
        t1w,
        "--out",
        f"{prefix}_desc-n4_T1w.nii.gz",
        "--field",
        f"{prefix}_desc-biasfield_T1w.nii.gz",
    )
    neuropeft(
        "skullstrip-t1w",
        "--t1w",
        f"{prefix}_desc-n4_T1w.nii.gz",
        "--out-mask",
        f"{prefix}_desc-brain_mask.nii.gz",
        "--out-brain",
        f"{prefix}_desc-brain_T1w.nii.gz",
    )
    neuropeft(
        "register",
        "--moving",
        f"{prefix}_desc-brain_T1w.nii.gz",
        "--modality",
        "t1w",
        "--out-transforms",
        f"{reg}_transforms.json",
        "--out-registered",
        f"{reg}_space-MNI152NLin2009aSym_T1w.nii.gz",
        "--settings",
        json.dumps(registration or {}),
    )
    neuropeft(
        "resample",
        "--image",
        f"{prefix}_desc-brain_T1w.nii.gz",
        "--mask",
        f"{prefix}_desc-brain_mask.nii.gz",
        "--transforms-json",
        f"{reg}_transforms.json",
        "--out",
        files["volume"],
        "--settings",
        json.dumps({"normalise": ["zscore"]}),
    )
    neuropeft(
        "qc-metrics",
        "--subject",
        stem,
        "--modality",
        "t1w",
        "--mask",
        f"{prefix}_desc-brain_mask.nii.gz",
        "--transforms",
        f"{reg}_transforms.json",
        "--out",
        files["qc"],
    )
    return files


def tilted(path: Path, out: Path) -> Path:
    """``path`` with its header rotated 30 degrees about the left-right axis (a scrambled affine)."""
    img = nib.load(path)
    angle = np.deg2rad(30)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), rotation @ img.affine, img.header), out)
    return out


@pytest.fixture(scope="module")
def ixi_qc(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The 10 heads and the failed registration through the chain, then qc-table and stack."""
    if not IXI10.is_dir():
        pytest.skip(f"{IXI10} is not here (set NEUROPEFT_REAL_DATA)")
    out = tmp_path_factory.mktemp("ixi_qc")
    subjects = sorted(p.name for p in IXI10.glob("sub-*"))
    runs = {s: t1w_chain(IXI10 / s / "anat" / f"{s}_T1w.nii.gz", out, s) for s in subjects}
    runs[TILTED_STEM] = t1w_chain(
        tilted(IXI10 / FAILED / "anat" / f"{FAILED}_T1w.nii.gz", out / "tilted_T1w.nii.gz"), out, TILTED_STEM
    )
    runs[FAILED_STEM] = t1w_chain(
        tilted(IXI10 / FAILED / "anat" / f"{FAILED}_T1w.nii.gz", out / "tilted_T1w.nii.gz"),
        out,
        FAILED_STEM,
        {"init": "center", "iterations": [0, 0, 0, 0]},
    )
    neuropeft(
        "qc-table",
        "--metrics",
        *[r["qc"] for r in runs.values()],
        "--out",
        out / "qc.tsv",
        "--out-excluded",
        out / "qc_excluded.tsv",
    )
    cohort = pd.DataFrame({"participant_id": list(runs), "stem": list(runs), "age": range(len(runs))})
    cohort.to_csv(out / "cohort.tsv", sep="\t", index=False)
    neuropeft(
        "stack-model-input",
        "--volumes",
        *[r["volume"] for r in runs.values()],
        "--cohort",
        out / "cohort.tsv",
        "--target",
        "age",
        "--qc-excluded",
        out / "qc_excluded.tsv",
        "--out-array",
        out / "model_input.npy",
        "--out-index",
        out / "model_input.tsv",
    )
    read = lambda name: pd.read_csv(out / name, sep="\t", keep_default_na=False)  # noqa: E731
    return {
        "subjects": subjects,
        "qc": read("qc.tsv").set_index("participant_id"),
        "excluded": read("qc_excluded.tsv"),
        "index": read("model_input.tsv"),
        "out": out,
    }


def _reference_mask(subject: str) -> Path:
    return IXI10 / "derivatives" / "dlmuse" / subject / "anat" / f"{subject}_desc-brain_mask.nii.gz"


@pytest.mark.parametrize("index", range(10))
def test_real_head_mask_and_registration_match_the_reference(ixi_qc: dict, index: int) -> None:
    """Per head: skull-stripping Dice >= 0.95 with the reference mask; the reference mask carried to
    MNI by the pipeline's own forward transform overlaps the template brain mask with Dice >= 0.93."""
    from neuropeft.preproc.accuracy import mask_dice, registration_dice

    subject, out = ixi_qc["subjects"][index], ixi_qc["out"]
    strip = mask_dice(out / f"{subject}_desc-brain_mask.nii.gz", _reference_mask(subject))
    registered = registration_dice(
        _reference_mask(subject), out / f"{subject}_from-T1w_to-MNI152NLin2009aSym_transforms.json"
    )
    print(f"{subject}: mask Dice {strip:.3f}, registration Dice {registered:.3f}")
    assert strip >= 0.95
    assert registered >= 0.93


#: fit-tensor's output options and map names
MAPS = {"fa": "FA", "md": "MD", "ad": "AD", "rd": "RD", "color-fa": "colorFA"}


def test_no_well_registered_real_head_is_flagged(ixi_qc: dict) -> None:
    qc = ixi_qc["qc"].loc[ixi_qc["subjects"]]
    print(qc[["brain_volume_ml", "registration_nmi", "dice_template", "coverage", "flag_reason"]].to_string())
    assert (qc["coverage"] > 0.99).all()
    assert qc["flagged"].sum() == 0, qc.loc[qc["flagged"] == 1, "flag_reason"].to_dict()


def test_a_failed_registration_is_flagged_left_out_and_listed(ixi_qc: dict) -> None:
    failed = ixi_qc["qc"].loc[FAILED_STEM]
    print(failed.to_dict())
    assert (
        failed["flagged"] == 1
        and "dice_template" in failed["flag_reason"]
        and "registration_nmi" in failed["flag_reason"]
    )
    assert ixi_qc["excluded"]["stem"].tolist() == [FAILED_STEM] and ixi_qc["excluded"]["reason"][0].startswith("t1w: ")
    assert ixi_qc["index"]["participant_id"].tolist() == ixi_qc["subjects"] + [TILTED_STEM]


def test_a_tilted_head_is_registered_by_the_rotation_search(ixi_qc: dict) -> None:
    """The rotation-search start brings a head tilted 30 degrees onto the template; QC passes it."""
    from neuropeft.preproc.accuracy import registration_dice

    out = ixi_qc["out"]
    reference = tilted(_reference_mask(FAILED), out / "tilted_reference_mask.nii.gz")
    assert registration_dice(reference, out / f"{TILTED_STEM}_from-T1w_to-MNI152NLin2009aSym_transforms.json") >= 0.93
    assert ixi_qc["qc"].loc[TILTED_STEM, "flagged"] == 0


def test_philips_slab_fa_md_and_coverage(tmp_path: Path) -> None:
    """The DWI chain on a 64 mm axial slab: FA/MD over the covered brain only, the coverage recorded and flagged."""
    if not PHILIPS.with_suffix(".bval").is_file():
        pytest.skip(f"{PHILIPS}.bval is not here (set NEUROPEFT_REAL_DATA)")
    p = tmp_path / "sub-philips"
    reg = f"{p}_from-dwiref_to-MNI152NLin2009aSym"
    bval, bvec = f"{PHILIPS}.bval", f"{PHILIPS}.bvec"
    neuropeft(
        "n4-dwi",
        "--dwi",
        f"{PHILIPS}.nii.gz",
        "--bval",
        bval,
        "--out",
        f"{p}_desc-n4_dwi.nii.gz",
        "--field",
        f"{p}_field.nii.gz",
    )
    neuropeft(
        "skullstrip-dwi",
        "--dwi",
        f"{p}_desc-n4_dwi.nii.gz",
        "--bval",
        bval,
        "--out-mask",
        f"{p}_desc-brain_mask.nii.gz",
        "--out-meanb0",
        f"{p}_desc-brain_dwiref.nii.gz",
    )
    neuropeft(
        "fit-tensor",
        "--dwi",
        f"{p}_desc-n4_dwi.nii.gz",
        "--bval",
        bval,
        "--bvec",
        bvec,
        "--mask",
        f"{p}_desc-brain_mask.nii.gz",
        *[arg for m, n in MAPS.items() for arg in (f"--out-{m}", f"{p}_model-DTI_{n}.nii.gz")],
    )
    neuropeft(
        "register",
        "--moving",
        f"{p}_desc-brain_dwiref.nii.gz",
        "--modality",
        "dwi",
        "--out-transforms",
        f"{reg}_transforms.json",
        "--out-registered",
        f"{reg}_space-MNI152NLin2009aSym_b0.nii.gz",
    )
    neuropeft(
        "resample",
        "--image",
        f"{p}_model-DTI_FA.nii.gz",
        "--image",
        f"{p}_model-DTI_MD.nii.gz",
        "--mask",
        f"{p}_desc-brain_mask.nii.gz",
        "--transforms-json",
        f"{reg}_transforms.json",
        "--out",
        f"{p}_model.nii.gz",
    )
    figures = [f"--out-{name}" for name in ("n4", "mask", "registration", "color-fa")]
    neuropeft(
        "qc-subject",
        "--subject",
        "sub-philips",
        "--modality",
        "dwi",
        "--corrected",
        f"{p}_desc-n4_dwi.nii.gz",
        "--mask",
        f"{p}_desc-brain_mask.nii.gz",
        "--registered",
        f"{reg}_space-MNI152NLin2009aSym_b0.nii.gz",
        "--color-fa",
        f"{p}_model-DTI_colorFA.nii.gz",
        *[x for f in figures for x in (f, f"{p}_{f[6:]}.png")],
        "--transforms",
        f"{reg}_transforms.json",
        "--fa",
        f"{p}_model-DTI_FA.nii.gz",
        "--md",
        f"{p}_model-DTI_MD.nii.gz",
        "--out-metrics",
        f"{p}_dwi_qc.json",
    )
    neuropeft("qc-table", "--metrics", f"{p}_dwi_qc.json", "--out", tmp_path / "qc.tsv")
    qc = pd.read_csv(tmp_path / "qc.tsv", sep="\t", keep_default_na=False).iloc[0]
    print(qc.to_dict())
    assert 0.35 <= qc["wm_mean_FA"] <= 0.60
    assert 0.6e-3 <= qc["brain_median_MD"] <= 1.0e-3
    assert 0.4 < qc["coverage"] < 0.8 and qc["dice_template"] > 0.9
    assert qc["flag_reason"] == f"coverage {qc['coverage']:.3f} < 0.85"  # a slab is partial data: left out by default
    assert all(Path(f"{p}_{f[6:]}.png").stat().st_size > 10_000 for f in figures)
