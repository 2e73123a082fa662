"""A BIDS dataset of good demo subjects plus one subject per kind of bad input (generated, small).

Each bad subject is a copy of a good one (same label) with one thing broken.  ``CASES`` says where
each must be caught: at validation (listed in ``excluded.tsv``), at a per-subject step (a failure
record, then left out under ``on_subject_failure: drop``), or nowhere (it must be processed).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Case:
    """One bad subject: what is broken, where it must be caught and a fragment of the expected reason."""

    description: str
    caught_at: str  # "validation", a rule name, or "" (processed like the others)
    reason: str


CASES: dict[str, Case] = {
    "sub-201": Case("DWI .nii.gz cut in half", "validation", "corrupt or truncated"),
    "sub-202": Case("0-byte DWI", "validation", "0 bytes"),
    "sub-203": Case("3D image where the 4D DWI is expected", "validation", "must be 4D"),
    "sub-204": Case("one b-value fewer than volumes", "validation", "b-values but"),
    "sub-205": Case("all-zero gradient directions", "validation", "all-zero gradient direction"),
    "sub-206": Case("non-unit gradient directions", "validation", "not unit length"),
    "sub-207": Case("no b=0 volume", "validation", "no b=0 volume"),
    "sub-208": Case("no target value (n/a)", "validation", "no value for the target"),
    "sub-209": Case("unknown target value 'maybe'", "validation", "where the others are numbers"),
    "sub-210": Case("listed twice in participants.tsv", "validation", "appears 2 times"),
    "sub-../x": Case("ID containing ../", "validation", "not a valid BIDS label"),
    "sub-301": Case("NaN voxels in the DWI", "n4_dwi", "NaN/Inf"),
    "sub-302": Case("blank (all-zero) DWI", "n4_dwi", "blank/constant"),
    "sub-303": Case("constant DWI (registration would have nothing to align)", "n4_dwi", "blank/constant"),
    "sub-304": Case("extreme anisotropic voxels (3 x 3 x 15 mm)", "skullstrip_dwi", "plausible"),
    "sub-305": Case("oblique orientation (axes rotated 25 and 15 degrees)", "", ""),
}


def build_corpus(good_bids: Path, out: Path) -> Path:
    """Copy ``good_bids`` to ``out`` and add every case of :data:`CASES`; returns ``out``."""
    shutil.copytree(good_bids, out)
    participants = pd.read_csv(out / "participants.tsv", sep="\t", dtype=str, keep_default_na=False)
    sources = list(participants["participant_id"])
    rows = []
    for number, (subject, _case) in enumerate(CASES.items()):
        source = participants[participants["participant_id"] == sources[number % len(sources)]].iloc[0].to_dict()
        rows.append({**source, "participant_id": subject})
        if "/" in subject:
            continue  # only a participants.tsv row: no folder can be made for it
        _copy_subject(out, source["participant_id"], subject)
        BREAKERS.get(subject, lambda d: None)(out / subject / "dwi")
    table = pd.concat([participants, pd.DataFrame(rows)], ignore_index=True)
    table.loc[table["participant_id"] == "sub-208", "diagnosis"] = "n/a"
    table.loc[table["participant_id"] == "sub-209", "diagnosis"] = "maybe"
    table = pd.concat([table, table[table["participant_id"] == "sub-210"]], ignore_index=True)
    table.to_csv(out / "participants.tsv", sep="\t", index=False)
    return out


def _copy_subject(bids: Path, source: str, subject: str) -> None:
    for path in (bids / source).rglob("*"):
        if path.is_file():
            target = bids / subject / path.relative_to(bids / source).parent / path.name.replace(source, subject)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _files(dwi_dir: Path) -> tuple[Path, Path, Path]:
    stem = dwi_dir.parent.name
    return dwi_dir / f"{stem}_dwi.nii.gz", dwi_dir / f"{stem}_dwi.bval", dwi_dir / f"{stem}_dwi.bvec"


def _rewrite_image(dwi_dir: Path, change: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    nii = _files(dwi_dir)[0]
    img = nib.load(nii)
    data, affine = change(np.asarray(img.dataobj).astype(np.float32), img.affine.copy())
    nib.save(nib.Nifti1Image(data, affine), nii)


def _truncate(dwi_dir: Path) -> None:
    nii = _files(dwi_dir)[0]
    nii.write_bytes(nii.read_bytes()[: nii.stat().st_size // 2])


def _empty(dwi_dir: Path) -> None:
    _files(dwi_dir)[0].write_bytes(b"")


def _edit_bval(dwi_dir: Path, change: Callable[[list[str]], list[str]]) -> None:
    bval = _files(dwi_dir)[1]
    bval.write_text(" ".join(change(bval.read_text().split())) + "\n")


def _edit_bvec(dwi_dir: Path, change: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    _, bval, bvec = _files(dwi_dir)
    vectors = np.loadtxt(bvec)
    np.savetxt(bvec, change(vectors, np.array(bval.read_text().split(), dtype=float) > 50), fmt="%.6f")


def _zero_directions(vectors: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    vectors[:, weighted] = 0.0
    return vectors


def _long_directions(vectors: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    vectors[:, weighted] *= 1.5
    return vectors


def _nan_voxels(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data[10:14, 10:14, 5:8, :] = np.nan
    return data, affine


def _stretch_slices(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    affine[:3, 2] *= 5.0
    return data, affine


def _oblique(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.radians(25.0), np.radians(15.0)
    about_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    about_z = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    rotation = np.eye(4)
    rotation[:3, :3] = about_z @ about_x
    return data, rotation @ affine


BREAKERS: dict[str, Callable[[Path], None]] = {
    "sub-201": _truncate,
    "sub-202": _empty,
    "sub-203": lambda d: _rewrite_image(d, lambda data, affine: (data[..., 0], affine)),
    "sub-204": lambda d: _edit_bval(d, lambda values: values[:-1]),
    "sub-205": lambda d: _edit_bvec(d, _zero_directions),
    "sub-206": lambda d: _edit_bvec(d, _long_directions),
    "sub-207": lambda d: _edit_bval(d, lambda values: ["1000"] * len(values)),
    "sub-301": lambda d: _rewrite_image(d, _nan_voxels),
    "sub-302": lambda d: _rewrite_image(d, lambda data, affine: (np.zeros_like(data), affine)),
    "sub-303": lambda d: _rewrite_image(d, lambda data, affine: (np.full_like(data, 500.0), affine)),
    "sub-304": lambda d: _rewrite_image(d, _stretch_slices),
    "sub-305": lambda d: _rewrite_image(d, _oblique),
}
