"""``neuropeft segmentation-to-native``: predicted label maps on the model grid -> each subject's T1w space.

Each predicted map (``predicted.npy``, (n, X, Y, Z) class numbers on the model grid of
``resample-labels``; its index names the rows' participant_id and session, in order; several
pairs, e.g. one per fold, are taken in one call, each subject predicted once) is put on the
grid of the subject's reference image (its raw T1w) with the inverse of the subject's T1w
registration: the transforms JSON's ``inverse`` list and ``whichtoinvert`` (template -> subject;
for an affine, the forward matrix inverted), interpolated with ANTs' ``genericLabel`` (every voxel
holds a predicted class). Transforms JSONs and references are matched to the rows through the
cohort table's stems (:mod:`neuropeft.segment.matching`; files of other subjects are ignored).

Outputs are BIDS derivatives, uint8, written atomically with a JSON sidecar:
``DIR/sub-X[/ses-Y]/anat/sub-X[_ses-Y]_desc-<NAME>_dseg.nii.gz``, and ``DIR/dataset_description.json``
when the folder has none.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuropeft import __version__
from neuropeft.atomic import write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import save_image
from neuropeft.preproc.stack import read_table
from neuropeft.segment.matching import NO_SESSION, describe, files_of, index_stems
from neuropeft.segment.warp import LABEL_INTERPOLATOR, LabelGridSettings, warp_labels

STEP = "segmentation-to-native"
#: a BIDS label: letters and digits only
_LABEL = re.compile(r"[A-Za-z0-9]+")


def read_inverse_transforms(path: Path) -> tuple[list[str], list[bool]]:
    """The registration's inverse transform list and ``whichtoinvert`` (template image -> subject grid)."""
    from neuropeft.preproc.registration import load_transforms

    try:
        inverse = load_transforms(path)["inverse"]
        transforms = [str(p) for p in inverse["transformlist"]]
        invert = [bool(i) for i in inverse["whichtoinvert"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NeuropeftError(
            f"{path}: cannot read the inverse transforms ({error!r}); pass the P_transforms.json written by `neuropeft register`"
        ) from None
    missing = [p for p in transforms if not Path(p).is_file()]
    if missing or not transforms or len(invert) != len(transforms):
        raise NeuropeftError(
            f"{path}: inverse transform file(s) {missing or 'none listed'} missing; re-run the registration"
        )
    return transforms, invert


def bids_entity(key: str, value: str) -> str:
    """``sub-01`` from ``01`` or ``sub-01`` (likewise ``ses-``)."""
    return value if value.startswith(f"{key}-") else f"{key}-{value}"


def derivative_path(out_dir: Path, participant: str, session: str, desc: str) -> Path:
    """``out_dir/sub-X[/ses-Y]/anat/sub-X[_ses-Y]_desc-<desc>_dseg.nii.gz``."""
    parts = [bids_entity("sub", participant)]
    if session not in ("", NO_SESSION):
        parts.append(bids_entity("ses", session))
    return out_dir.joinpath(*parts, "anat", f"{'_'.join(parts)}_desc-{desc}_dseg.nii.gz")


def load_reference(path: Path) -> nib.Nifti1Image:
    """The reference image's grid (shape and affine) as an empty 3D image, refused on one line when unreadable."""
    try:
        image = nib.load(str(path))
    except (OSError, ValueError, nib.filebasedimages.ImageFileError) as error:
        raise NeuropeftError(
            f"{path}: cannot read the reference image as NIfTI ({error}); pass the subject's T1w"
        ) from None
    shape = image.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise NeuropeftError(f"{path}: the reference image has shape {shape}; pass the subject's 3D T1w")
    return nib.Nifti1Image(np.zeros(shape, np.uint8), image.affine)


def load_predicted(path: Path, settings: LabelGridSettings) -> np.ndarray:
    """The predicted label maps (n, X, Y, Z), memory-mapped, checked against the model grid."""
    try:
        predicted = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise NeuropeftError(f"{path}: cannot read the predicted label maps ({error}); pass a .npy file") from None
    if predicted.ndim != 4 or list(predicted.shape[1:]) != list(settings.shape):
        raise NeuropeftError(
            f"{path}: predicted label maps of shape {predicted.shape}, expected (n, {', '.join(map(str, settings.shape))}) "
            "on the model grid; pass the same voxel_mm and shape as resample"
        )
    if not np.issubdtype(predicted.dtype, np.integer):
        raise NeuropeftError(f"{path}: predicted label maps of type {predicted.dtype}; expected integer class numbers")
    return predicted


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One predicted map: where it is (file and row) and the subject's files."""

    predicted: Path
    row: int
    participant_id: str
    session: str
    stem: str
    transforms: Path
    reference: Path


def match_predictions(
    predicted_paths: list[Path],
    index_paths: list[Path],
    cohort_path: Path,
    transforms: list[Path],
    references: list[Path],
    settings: LabelGridSettings,
) -> list[Prediction]:
    """Every row of every (predicted, index) pair with its subject's transforms and reference,
    refusing before anything is written: unpaired files, a row count that differs from the maps',
    an unmatched subject and a subject predicted twice."""
    if len(predicted_paths) != len(index_paths):
        raise NeuropeftError(
            f"{len(predicted_paths)} --predicted file(s) but {len(index_paths)} --index table(s); pass one index per file, in the same order"
        )
    found: list[Prediction] = []
    seen: dict[str, Path] = {}
    for predicted_path, index_path in zip(predicted_paths, index_paths, strict=True):
        predicted = load_predicted(predicted_path, settings)
        index = read_table(index_path, ["participant_id", "session"], "predicted index")
        if len(index) != predicted.shape[0]:
            raise NeuropeftError(
                f"{index_path}: {len(index)} rows for the {predicted.shape[0]} label maps of {predicted_path}; pass the index written with them"
            )
        stems, cohort_stems = index_stems(index, index_path, cohort_path)
        transform_files = files_of(stems, cohort_stems, transforms, "transforms JSON", index_path, index)
        reference_files = files_of(stems, cohort_stems, references, "reference image", index_path, index)
        rows = zip(index["participant_id"], index["session"], stems, transform_files, reference_files, strict=True)
        for row, (pid, ses, stem, transform, reference) in enumerate(rows):
            if stem in seen:
                raise NeuropeftError(
                    f"{index_path}: {describe(pid, ses)} is also predicted in {seen[stem]}; pass each subject's prediction once"
                )
            seen[stem] = index_path
            found.append(Prediction(predicted_path, row, pid, ses, stem, transform, reference))
    return found


def write_description(out_dir: Path, desc: str) -> None:
    """``out_dir/dataset_description.json`` of a BIDS derivative dataset, unless one is there."""
    description = out_dir / "dataset_description.json"
    if not description.exists():
        write_json(
            description,
            {
                "Name": f"neuropeft segmentations ({desc})",
                "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "neuropeft", "Version": __version__}],
            },
        )


def segmentation_to_native(
    predicted_paths: list[Path],
    index_paths: list[Path],
    cohort_path: Path,
    transforms: list[Path],
    references: list[Path],
    out_dir: Path,
    desc: str,
    settings: LabelGridSettings,
    out_list: Path | None = None,
) -> list[Path]:
    """Write each predicted map (of each of ``predicted_paths``, rows named by the matching
    ``index_paths``, e.g. one pair per fold) in its subject's native space; returns the written paths."""
    if not _LABEL.fullmatch(desc):
        raise NeuropeftError(f"--desc {desc!r} must be letters and digits only (a BIDS label), e.g. unetrLora")
    predictions = match_predictions(predicted_paths, index_paths, cohort_path, transforms, references, settings)
    grid = settings.grid()
    written = []
    for item in predictions:
        inverse = read_inverse_transforms(item.transforms)
        reference = load_reference(item.reference)
        labels = np.asarray(np.load(item.predicted, mmap_mode="r")[item.row])
        if labels.max(initial=0) > 255 or labels.min(initial=0) < 0:
            raise NeuropeftError(
                f"{item.predicted}: row {item.row} ({describe(item.participant_id, item.session)}) holds classes outside 0..255"
            )
        native = warp_labels(labels, grid, reference, inverse)
        out = derivative_path(out_dir, item.participant_id, item.session, desc)
        image = nib.Nifti1Image(native, reference.affine)
        image.header.set_xyzt_units("mm", "sec")
        extra = {
            "inputs": {
                "predicted": str(item.predicted),
                "row": item.row,
                "transforms": str(item.transforms),
                "reference": str(item.reference),
            },
            "interpolator": LABEL_INTERPOLATOR,
            "classes_present": sorted(int(v) for v in np.unique(native) if v),
        }
        save_image(image, out, STEP, settings, extra)
        written.append(out)
    write_description(out_dir, desc)
    if out_list is not None:
        table = pd.DataFrame(
            {
                "participant_id": [item.participant_id for item in predictions],
                "session": [item.session for item in predictions],
                "path": [str(path) for path in written],
            }
        )
        write_tsv(table, out_list)
    return written
