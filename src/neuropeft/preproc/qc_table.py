"""``neuropeft qc-table``: one row of QC figures per subject, with robust outlier flags.

Inputs are parallel lists, one file per subject in the order of ``--subjects`` (a rule passes
``expand(...)`` lists); each list is optional and adds its columns:

* ``--brain-masks`` (native brain masks) -> ``brain_volume_ml``;
* ``--registrations`` (``P_transforms.json`` of ``register``) -> ``registration_nmi``
  (normalised mutual information, 1 = independent .. 2 = identical);
* ``--registered-masks`` (brain masks warped to template space, 3D or 1-channel 4D, e.g. from
  ``resample --settings '{"normalise": ["none"], "interpolation": "nearestNeighbor"}'``) ->
  ``dice_template``: Dice with the template brain mask on the same grid (nipype ``Overlap``);
* ``--model-volumes`` (model-ready volumes) -> ``wm_mean_<channel>`` per channel (names from
  ``channel_names``): the mean inside the template white matter (WM probability > ``wm_threshold``
  on the volume's grid), in the volume's normalised units (MD as MD / md_scale).

Subject labels like ``sub-001_ses-1`` become participant_id ``sub-001`` and session ``ses-1``.
Each metric column gets a robust z-score (x - median) / (1.4826 MAD), or (x - median) /
(1.2533 mean absolute deviation) when the MAD is 0 (more than half the values tie; Iglewicz &
Hoaglin's fallback); a subject with ``|z| > z_threshold`` in any column is flagged ``outlier = 1``
with the columns and z-scores in ``outlier_reason`` (constant columns are not scored).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image
from neuropeft.preproc.resample import resample_to_grid
from neuropeft.preproc.template import template_brain_mask, template_tissue
from neuropeft.settings import add_settings_argument, parse_settings

MAD_TO_SD = 1.4826
MEANAD_TO_SD = 1.2533


def _default_channels() -> list[str]:
    return ["FA", "MD"]


@dataclasses.dataclass
class QCTableSettings:
    """Settings of ``qc-table`` (config section ``qc``)."""

    #: robust z-score (median/MAD) above which a value is flagged as an outlier
    z_threshold: float = 3.5
    #: template white-matter probability above which a model-grid voxel counts as white matter
    wm_threshold: float = 0.5
    #: names of the model-volume channels, in order (columns wm_mean_<name>)
    channel_names: list[str] = dataclasses.field(default_factory=_default_channels)
    #: template resolution (whole mm) whose brain/WM maps are resampled onto the inputs' grids (use the model grid's voxel_mm)
    template_voxel_mm: int = 2


def split_label(label: str) -> tuple[str, str]:
    """``sub-001_ses-1`` -> (``sub-001``, ``ses-1``); no session -> "n/a"."""
    head, _, session = label.partition("_ses-")
    return head, f"ses-{session}" if session else "n/a"


def brain_volume_ml(path: Path) -> float:
    """Volume of the non-zero voxels of a mask, in ml."""
    img = load_image(path, "brain mask", ndim=3)
    return float((np.asarray(img.dataobj) > 0).sum() * np.prod(img.header.get_zooms()[:3]) / 1000.0)


def registration_nmi(path: Path) -> float:
    """``similarity.nmi`` from a ``register`` transforms JSON."""
    try:
        return float(json.loads(path.read_text())["similarity"]["nmi"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NeuropeftError(f"{path}: no similarity.nmi ({error!r}); pass the P_transforms.json written by `neuropeft register`") from None


@functools.lru_cache(maxsize=4)
def _template_on_grid(kind: str, voxel_mm: int, shape: tuple[int, ...], affine: bytes) -> np.ndarray:
    """Template brain mask (``kind`` "brain") or WM probability ("wm") resampled onto a grid (cached per grid)."""
    grid = nib.Nifti1Image(np.zeros(shape, np.uint8), np.frombuffer(affine).reshape(4, 4))
    if kind == "brain":
        return resample_to_grid(template_brain_mask(voxel_mm), grid, "nearest")
    return resample_to_grid(template_tissue("wm", voxel_mm), grid, "continuous")


def _first_volume(path: Path, what: str) -> nib.Nifti1Image:
    img = load_image(path, what)
    data = np.asarray(img.dataobj)
    return nib.Nifti1Image(data[..., 0] if data.ndim == 4 else data, img.affine)


def dice_with_template(path: Path, voxel_mm: int) -> float:
    """Dice of a template-space brain mask with the template brain mask on its grid (nipype Overlap)."""
    from nipype.algorithms.metrics import Overlap

    subject = _first_volume(path, "registered brain mask")
    template = _template_on_grid("brain", voxel_mm, subject.shape, subject.affine.astype(float).tobytes()) > 0.5
    with tempfile.TemporaryDirectory(prefix="neuropeft-qc-") as tmp:
        files = [str(Path(tmp) / name) for name in ("subject.nii.gz", "template.nii.gz")]
        nib.save(nib.Nifti1Image((np.asarray(subject.dataobj) > 0.5).astype(np.uint8), subject.affine), files[0])
        nib.save(nib.Nifti1Image(template.astype(np.uint8), subject.affine), files[1])
        result = Overlap(volume1=files[0], volume2=files[1], out_file=str(Path(tmp) / "diff.nii.gz")).run()
    return float(result.outputs.dice)


def wm_means(path: Path, settings: QCTableSettings) -> dict[str, float]:
    """Mean of each channel of a model-ready volume inside the template white matter."""
    img = load_image(path, "model-ready volume")
    data = np.asarray(img.dataobj, dtype=np.float32)
    data = data[..., None] if data.ndim == 3 else data
    if data.shape[3] != len(settings.channel_names):
        raise NeuropeftError(f"{path}: {data.shape[3]} channel(s) but qc channel_names has {len(settings.channel_names)}; set one name per channel")
    wm = _template_on_grid("wm", settings.template_voxel_mm, data.shape[:3], img.affine.astype(float).tobytes()) > settings.wm_threshold
    if not wm.any():
        raise NeuropeftError(f"{path}: no template white matter on this volume's grid; is it on the model grid?")
    return {f"wm_mean_{name}": float(data[..., c][wm].mean()) for c, name in enumerate(settings.channel_names)}


def flag_outliers(table: pd.DataFrame, columns: list[str], threshold: float) -> pd.DataFrame:
    """Add ``outlier`` (0/1) and ``outlier_reason`` from per-column robust z-scores."""
    reasons: list[list[str]] = [[] for _ in range(len(table))]
    for column in columns:
        values = table[column].to_numpy(dtype=float)
        median = np.median(values)
        spread = MAD_TO_SD * np.median(np.abs(values - median)) or MEANAD_TO_SD * np.mean(np.abs(values - median))
        if spread == 0:
            continue
        for row, z in enumerate((values - median) / spread):
            if abs(z) > threshold:
                reasons[row].append(f"{column} z={z:+.1f}")
    return table.assign(outlier=[int(bool(r)) for r in reasons], outlier_reason=["; ".join(r) for r in reasons])


def build_table(subjects: list[str], inputs: dict[str, list[Path] | None], settings: QCTableSettings) -> pd.DataFrame:
    """The QC table for ``subjects`` from the given per-subject input lists."""
    for name, paths in inputs.items():
        if paths is not None and len(paths) != len(subjects):
            raise NeuropeftError(f"--{name} lists {len(paths)} file(s) for {len(subjects)} --subjects; give one per subject, in the same order")
        missing = [p for p in paths or [] if not p.is_file()]
        if missing:
            raise NeuropeftError(f"{missing[0]}: --{name} file does not exist; run the step that makes it first")
    rows = []
    for i, label in enumerate(subjects):
        participant, session = split_label(label)
        row: dict[str, object] = {"participant_id": participant, "session": session}
        if inputs["brain-masks"]:
            row["brain_volume_ml"] = brain_volume_ml(inputs["brain-masks"][i])
        if inputs["registrations"]:
            row["registration_nmi"] = registration_nmi(inputs["registrations"][i])
        if inputs["registered-masks"]:
            row["dice_template"] = dice_with_template(inputs["registered-masks"][i], settings.template_voxel_mm)
        if inputs["model-volumes"]:
            row.update(wm_means(inputs["model-volumes"][i], settings))
        rows.append(row)
    table = pd.DataFrame(rows)
    return flag_outliers(table, [c for c in table.columns if c not in ("participant_id", "session")], settings.z_threshold)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``neuropeft qc-table``."""
    parser.add_argument("--subjects", nargs="+", required=True, help="subject labels (sub-001 or sub-001_ses-1), one per row")
    parser.add_argument("--brain-masks", nargs="+", type=Path, help="native brain masks, one per subject -> brain_volume_ml")
    parser.add_argument("--registrations", nargs="+", type=Path, help="register transforms JSONs, one per subject -> registration_nmi")
    parser.add_argument("--registered-masks", nargs="+", type=Path, help="template-space brain masks, one per subject -> dice_template")
    parser.add_argument("--model-volumes", nargs="+", type=Path, help="model-ready volumes, one per subject -> wm_mean_<channel>")
    parser.add_argument("--out", required=True, type=Path, help="output QC table (TSV)")
    add_settings_argument(parser)


def main(args: argparse.Namespace) -> None:
    """Run ``neuropeft qc-table``."""
    settings = parse_settings(QCTableSettings, args.settings)
    inputs = {"brain-masks": args.brain_masks, "registrations": args.registrations,
              "registered-masks": args.registered_masks, "model-volumes": args.model_volumes}
    if not any(inputs.values()):
        raise NeuropeftError("qc-table needs at least one of --brain-masks, --registrations, --registered-masks, --model-volumes")
    write_tsv(build_table(args.subjects, inputs, settings), args.out)
