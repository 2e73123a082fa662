"""Where the demo cohort's files lie: ``<out>/bids`` (a BIDS dataset, with its tissue segmentation as the
derivative ``bids/derivatives/tissue``) and ``<out>/truth`` (its ground truth).

The workflow keeps the demo under :data:`DEMO_DIR`; the writer (:mod:`neuropeft.demo.cohort`), the
workflow's parse-time helpers and the tests take its file names from here. Import-light: the
Snakefile imports it at parse time.
"""

from __future__ import annotations

from pathlib import Path

#: the demo cohort's folder in a workflow run
DEMO_DIR = "results/demo"


def bids_root(out_dir: str | Path) -> Path:
    """The demo's BIDS dataset."""
    return Path(out_dir) / "bids"


def truth_root(out_dir: str | Path) -> Path:
    """The demo's ground truth (masks, bias fields, true FA/MD, poses, labels)."""
    return Path(out_dir) / "truth"


def tissue_root(out_dir: str | Path) -> Path:
    """The BIDS derivative holding the demo's tissue label maps (0 background, 1 CSF, 2 GM, 3 WM)."""
    return bids_root(out_dir) / "derivatives" / "tissue"


def subject_files(out_dir: str | Path, sub: str) -> dict[str, Path]:
    """One subject's BIDS files by field: t1w, t1w_json, dwi, dwi_json, bval, bvec, and the tissue
    label map on the T1w grid with its sidecar (tissue_dseg, tissue_dseg_json; a derivative)."""
    anat, dwi = bids_root(out_dir) / sub / "anat", bids_root(out_dir) / sub / "dwi"
    tissue = tissue_root(out_dir) / sub / "anat"
    return {
        "t1w": anat / f"{sub}_T1w.nii.gz",
        "t1w_json": anat / f"{sub}_T1w.json",
        "dwi": dwi / f"{sub}_dwi.nii.gz",
        "dwi_json": dwi / f"{sub}_dwi.json",
        "bval": dwi / f"{sub}_dwi.bval",
        "bvec": dwi / f"{sub}_dwi.bvec",
        "tissue_dseg": tissue / f"{sub}_desc-tissue_dseg.nii.gz",
        "tissue_dseg_json": tissue / f"{sub}_desc-tissue_dseg.json",
    }


def dataset_files(out_dir: str | Path) -> dict[str, Path]:
    """The dataset-level BIDS files by name: participants.tsv, participants.json, description, README,
    and the tissue derivative's description and label table (tissue_description, tissue_lut)."""
    bids, tissue = bids_root(out_dir), tissue_root(out_dir)
    return {
        "participants": bids / "participants.tsv",
        "participants_json": bids / "participants.json",
        "description": bids / "dataset_description.json",
        "readme": bids / "README",
        "tissue_description": tissue / "dataset_description.json",
        "tissue_lut": tissue / "desc-tissue_dseg.tsv",
    }


def demo_dir_of(bids_file: str | Path) -> str:
    """The demo folder (``out_dir``) holding a file of its BIDS dataset."""
    for parent in Path(bids_file).parents:
        if parent.name == "bids":
            return str(parent.parent)
    raise ValueError(f"{bids_file} is not inside a demo BIDS folder")
