"""Tiny BIDS datasets (4x4x4 voxel NIfTIs) built on disk, to be broken one way at a time."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

BVALS = [0, 1000, 1000, 1000, 0, 1000, 1000]
BVECS = np.array(
    [
        [0, 1, 0, 0, 0, 0.7071068, 0],
        [0, 0, 1, 0, 0, 0.7071068, 0.6],
        [0, 0, 0, 1, 0, 0, 0.8],
    ]
)


def write_nifti(path: Path, shape: tuple[int, ...]) -> Path:
    """A small float32 NIfTI of ``shape`` at ``path`` (.nii or .nii.gz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def write_table(path: Path, rows: list[list[float]] | np.ndarray) -> Path:
    """Rows of numbers, space-separated (the .bval/.bvec format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(f"{v:g}" for v in row) + "\n" for row in rows))
    return path


class Bids:
    """Builder of a BIDS dataset: participants.tsv plus per-subject T1w and DWI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def participants(self, rows: list[dict[str, str]], columns: list[str] | None = None) -> None:
        columns = columns or ["participant_id", "diagnosis", "age", "site"]
        lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
        (self.root / "participants.tsv").write_text("\n".join(lines) + "\n")

    def folder(self, sub: str, ses: str = "") -> Path:
        return self.root / sub / ses if ses else self.root / sub

    def stem(self, sub: str, ses: str = "", entities: str = "") -> str:
        return "_".join(part for part in (sub, ses, entities) if part)

    def t1w(self, sub: str, ses: str = "", entities: str = "", shape: tuple[int, ...] = (4, 4, 4)) -> Path:
        return write_nifti(self.folder(sub, ses) / "anat" / f"{self.stem(sub, ses, entities)}_T1w.nii.gz", shape)

    def dwi(self, sub: str, ses: str = "", entities: str = "", volumes: int = 7) -> Path:
        stem = self.stem(sub, ses, entities)
        folder = self.folder(sub, ses) / "dwi"
        write_table(folder / f"{stem}_dwi.bval", [BVALS[:volumes]])
        write_table(folder / f"{stem}_dwi.bvec", BVECS[:, :volumes])
        return self.dwi_image(sub, ses, entities, volumes)

    def dwi_image(self, sub: str, ses: str = "", entities: str = "", volumes: int = 7) -> Path:
        """The DWI NIfTI alone (its gradient table inherited from a folder above)."""
        return write_nifti(
            self.folder(sub, ses) / "dwi" / f"{self.stem(sub, ses, entities)}_dwi.nii.gz", (4, 4, 4, volumes)
        )

    def subject(self, sub: str, ses: str = "") -> None:
        self.t1w(sub, ses)
        self.dwi(sub, ses)

    def path(self, rel: str) -> Path:
        return self.root / rel


def touch(path: Path) -> Path:
    """A 0-byte file (for the files validation never reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def with_participants(root: Path, n: int) -> tuple[Bids, list[str]]:
    """A dataset folder with participants.tsv of ``n`` subjects sub-01.. (diagnosis 0/1, site A/B)."""
    bids = Bids(root)
    subjects = [f"sub-{i:02d}" for i in range(1, n + 1)]
    bids.participants(
        [{"participant_id": s, "diagnosis": i % 2, "age": 40 + i, "site": "AB"[i % 2]} for i, s in enumerate(subjects)]
    )
    (root / "dataset_description.json").write_text('{"Name": "fixture", "BIDSVersion": "1.8.0"}\n')
    return bids, subjects


def ds114_like(root: Path, n: int = 3) -> Bids:
    """Like bids-examples ds114: sessions ses-test and ses-retest, one dwi.bval/dwi.bvec at the root for
    every DWI, 0-byte functional runs, and derivatives/, sourcedata/ and code/ holding 0-byte images that
    must not be read. T1w and DWI are tiny real NIfTIs: validation reads their headers."""
    bids, subjects = with_participants(root, n)
    write_table(root / "dwi.bval", [BVALS])
    write_table(root / "dwi.bvec", BVECS)
    touch(root / "task-fingerfootlips_bold.json")
    for sub in subjects:
        for ses in ("ses-test", "ses-retest"):
            bids.t1w(sub, ses)
            bids.dwi_image(sub, ses)
            touch(bids.folder(sub, ses) / "func" / f"{sub}_{ses}_task-fingerfootlips_bold.nii.gz")
    for folder in ("derivatives/freesurfer", "sourcedata", "code"):
        touch(root / folder / "sub-01" / "ses-test" / "anat" / "sub-01_ses-test_T1w.nii.gz")
        touch(root / folder / "dwi.bval")
    return bids


def ds000117_like(root: Path, n: int = 3) -> Bids:
    """Like ds000117: T1w (acq-mprage) and DWI only in ses-mri; ses-meg holds only 0-byte meg/ files."""
    bids, subjects = with_participants(root, n)
    for sub in subjects:
        bids.t1w(sub, "ses-mri", "acq-mprage")
        bids.dwi(sub, "ses-mri")
        touch(bids.folder(sub, "ses-meg") / "meg" / f"{sub}_ses-meg_task-facerecognition_run-01_meg.fif")
    return bids
