"""Write the demo cohort: a BIDS dataset under ``out_dir/bids`` (with the tissue label maps as the
derivative ``bids/derivatives/tissue``) and ground truth under ``out_dir/truth``.

Each subject is written independently of the others (:func:`write_demo_subject`, one workflow job
per subject) and the dataset-level files (:func:`write_dataset_files`: ``participants.tsv``,
``labels.tsv`` ...) need no images, so any part can be (re)made alone.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.atomic import save_nifti, write_json, write_text, write_tsv
from neuropeft.demo.anatomy import load_anatomy
from neuropeft.demo.gradients import format_bval, format_bvec, gradient_table
from neuropeft.demo.grids import Grid
from neuropeft.demo.layout import dataset_files, subject_files, truth_root
from neuropeft.demo.missing import missing_dwi_subjects
from neuropeft.demo.settings import DemoSettings
from neuropeft.demo.subject import TISSUE_CLASSES, make_subject, subject_profile
from neuropeft.errors import NeuropeftError

BIDS_VERSION = "1.9.0"
T1W_SIDECAR = {
    "MagneticFieldStrength": 3,
    "Manufacturer": "neuropeft demo",
    "PulseSequenceType": "MPRAGE",
    "RepetitionTime": 2.3,
    "EchoTime": 0.00298,
    "InversionTime": 0.9,
    "FlipAngle": 9,
}
DWI_SIDECAR = {
    "MagneticFieldStrength": 3,
    "Manufacturer": "neuropeft demo",
    "PulseSequenceType": "SE-EPI",
    "RepetitionTime": 8.5,
    "EchoTime": 0.089,
    "FlipAngle": 90,
    "PhaseEncodingDirection": "j-",
    "TotalReadoutTime": 0.05,
}
TRUTH_DESCRIPTIONS = {
    "brainmask": ("brain mask (template brain mask carried through the pose, >= 0.5)", "1"),
    "wmmask": ("white-matter mask (white-matter fraction >= 0.5)", "1"),
    "biasfield": ("multiplicative bias field applied to the image", "1"),
    "effectmask": ("white matter inside the planted effect region", "1"),
    "FA": ("true fractional anisotropy of the (noise-free) voxel tensor, 0 outside the brain mask", "1"),
    "MD": ("true mean diffusivity of the (noise-free) voxel tensor, 0 outside the brain mask", "mm^2/s"),
}

TISSUE_DSEG_DESCRIPTION = (
    "true tissue classes on the T1w grid (0 background, 1 CSF, 2 GM, 3 WM; see desc-tissue_dseg.tsv): WM where the "
    "white-matter fraction is >= 0.5 (the wmmask truth), else where brain + CSF is >= 0.5 the larger of the grey-matter "
    "and CSF (within the brain and extra-axial) fractions of the template tissue maps carried through the pose"
)


def make_demo_cohort(out_dir: Path, settings: DemoSettings, workers: int = 1) -> None:
    """Synthesise the cohort described by ``settings`` under ``out_dir`` using up to ``workers`` processes."""
    out_dir = Path(out_dir)
    load_anatomy()  # built once here; forked workers inherit it
    indices = range(settings.n_subjects)
    missing = set(missing_dwi_subjects(settings.n_subjects, settings.missing_dwi_fraction, settings.seed))
    with_dwi = [f"sub-{index + 1:03d}" not in missing for index in indices]
    if workers > 1 and settings.n_subjects > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, settings.n_subjects), mp_context=context) as pool:
            list(pool.map(_write_subject_index, [out_dir] * len(indices), [settings] * len(indices), indices, with_dwi))
    else:
        for index in indices:
            _write_subject_index(out_dir, settings, index, with_dwi[index])
    write_dataset_files(out_dir, settings)


def subject_index(participant_id: str) -> int:
    """0-based index of a demo participant ID (``sub-007`` → 6).

    A subject does not depend on the cohort size, so any ``sub-<number>`` from 1 up is accepted.
    """
    number = participant_id.removeprefix("sub-")
    if not (participant_id.startswith("sub-") and number.isdigit() and int(number) >= 1):
        raise NeuropeftError(f"{participant_id!r} is not a demo subject ID; use sub-001, sub-002, ...")
    return int(number) - 1


def write_demo_subject(out_dir: Path, settings: DemoSettings, participant_id: str, with_dwi: bool = True) -> None:
    """Write one subject's BIDS files and ground truth (without its DWI files unless ``with_dwi``)."""
    _write_subject_index(Path(out_dir), settings, subject_index(participant_id), with_dwi)


def provenance(settings: DemoSettings) -> dict[str, Any]:
    """Settings and tool versions recorded in every sidecar."""
    tools = ("neuropeft", "numpy", "scipy", "nibabel", "nilearn")
    return {
        "Name": "neuropeft demo-cohort",
        "Settings": dataclasses.asdict(settings),
        "Versions": {t: version(t) for t in tools},
    }


def _write_subject_index(out_dir: Path, settings: DemoSettings, index: int, with_dwi: bool = True) -> None:
    """Write subject ``index``; without DWI the same subject is made (every draw alike), its DWI not written."""
    bvals, bvecs = gradient_table(settings)
    subject = make_subject(settings, index, bvals, bvecs)
    t1w, dwi = subject.t1w_grid, subject.dwi_grid
    sub = subject.participant_id
    files, truth = subject_files(out_dir, sub), truth_root(out_dir) / sub
    acquisition = {
        "InstitutionName": subject.site.label,
        "ManufacturersModelName": f"demo scanner {subject.site.label}",
    }
    _save(subject.t1w, t1w, files["t1w"])
    write_json(files["t1w_json"], {**T1W_SIDECAR, **acquisition})
    if with_dwi:
        _save(subject.dwi, dwi, files["dwi"], repetition_time=DWI_SIDECAR["RepetitionTime"])
        spacing = DWI_SIDECAR["TotalReadoutTime"] / (dwi.shape[1] - 1)
        write_json(files["dwi_json"], {**DWI_SIDECAR, **acquisition, "EffectiveEchoSpacing": round(spacing, 8)})
        write_text(files["bval"], format_bval(bvals))
        write_text(files["bvec"], format_bvec(bvecs))
    generated_by = provenance(settings)
    _save(subject.tissue_dseg, t1w, files["tissue_dseg"])
    write_json(
        files["tissue_dseg_json"],
        {
            "Description": TISSUE_DSEG_DESCRIPTION,
            "Sources": [f"bids:raw:{sub}/anat/{files['t1w'].name}"],
            "GeneratedBy": generated_by,
        },
    )
    for modality, grid, maps in (("T1w", t1w, subject.truth_t1w), ("dwi", dwi, subject.truth_dwi)):
        for name, array in maps.items():
            path = truth / f"{sub}_{modality}_{name}.nii.gz"
            _save(array, grid, path)
            description, units = TRUTH_DESCRIPTIONS[name]
            write_json(
                str(path).replace(".nii.gz", ".json"),
                {"Description": description, "Units": units, "GeneratedBy": generated_by},
            )
    pose = subject.pose.as_json(load_anatomy().brain_points_mm)
    write_json(
        truth / f"{sub}_pose.json",
        {
            **pose,
            "site": subject.site.label,
            "site_scale": subject.site.scale,
            "site_noise": subject.site.noise,
            "noise_sigma": subject.noise_sigma,
            "t1w_affine": t1w.affine.tolist(),
            "dwi_affine": dwi.affine.tolist(),
        },
    )


def _save(array: np.ndarray, grid: Grid, path: Path, repetition_time: float | None = None) -> None:
    """Save on ``grid``; smooth float maps (bias fields) are stored as scaled int16 to stay small."""
    img = nib.Nifti1Image(array, grid.affine)
    if array.dtype == np.float32 and path.name.endswith("biasfield.nii.gz"):
        img.set_data_dtype(np.int16)
    img.header.set_qform(grid.affine, code=1)
    img.header.set_sform(grid.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    if repetition_time is not None:
        img.header.set_zooms(img.header.get_zooms()[:3] + (repetition_time,))
    save_nifti(img, path)


def write_dataset_files(out_dir: Path, settings: DemoSettings) -> None:
    """The dataset-level files: description, README, participants (BIDS), the tissue derivative's
    description and label table, and labels (truth)."""
    import pandas as pd  # here, not at the top: the per-subject jobs do not need it

    files = dataset_files(out_dir)
    generated_by = provenance(settings)
    write_json(
        files["description"],
        {
            "Name": "neuropeft synthetic demo cohort",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "GeneratedBy": [{"Name": generated_by["Name"], "Version": generated_by["Versions"]["neuropeft"]}],
        },
    )
    write_json(
        files["tissue_description"],
        {
            "Name": "neuropeft synthetic demo cohort: true tissue classes",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "License": "CC0",
            "GeneratedBy": [
                {
                    "Name": generated_by["Name"],
                    "Version": generated_by["Versions"]["neuropeft"],
                    "Description": "tissue classes of the template maps the demo images are synthesised from",
                }
            ],
            "DatasetLinks": {"raw": "../.."},
        },
    )
    write_text(files["tissue_lut"], "index\tname\n" + "".join(f"{i}\t{n}\n" for i, n in TISSUE_CLASSES.items()))
    write_text(
        files["readme"],
        (
            "Synthetic DWI + T1w cohort made by `neuropeft demo-cohort` from the MNI152 2009a template "
            "(random pose, deformation, bias, Rician noise, sites, a planted white-matter FA effect). "
            "Ground truth lies in ../truth; the true tissue classes in derivatives/tissue.\n"
        ),
    )
    write_json(
        files["participants_json"],
        {
            "diagnosis": {
                "Description": "planted group label",
                "Levels": {"0": "control", "1": "lower FA in the effect region"},
            },
            "age": {"Description": "age", "Units": "years"},
            "sex": {"Description": "sex", "Levels": {"F": "female", "M": "male"}},
            "site": {"Description": "scanner site"},
            "time": {
                "Description": "follow-up time: to the event, or to the end of follow-up (censored)",
                "Units": "years",
            },
            "event": {"Description": "event indicator", "Levels": {"0": "censored", "1": "event at time"}},
        },
    )
    labels = pd.DataFrame([subject_profile(settings, index).record(settings) for index in range(settings.n_subjects)])
    truth = truth_root(out_dir)
    write_json(
        truth / "effect_region.json",
        {
            "description": "diagnosis=1 lowers white-matter FA by effect_fa inside this template-space ellipsoid (MD kept)",
            "center_mm": list(settings.effect_center_mm),
            "radii_mm": list(settings.effect_radii_mm),
            "effect_fa": settings.effect_fa,
            "age_fa_slope": settings.age_fa_slope,
            "age_md_slope": settings.age_md_slope,
            "reference_age": (settings.age_min + settings.age_max) / 2,
            "GeneratedBy": generated_by,
        },
    )
    write_tsv(labels, truth / "labels.tsv")
    write_tsv(labels[["participant_id", "diagnosis", "age", "sex", "site", "time", "event"]], files["participants"])


def write_demo(
    out_dir: Path,
    settings: DemoSettings,
    threads: int = 1,
    subject: str | None = None,
    dataset_only: bool = False,
    without_dwi: bool = False,
) -> None:
    """Write the whole cohort, one subject (``without_dwi``: not its DWI files), or only the dataset-level files.

    The whole cohort leaves out the DWI of the subjects :func:`missing_dwi_subjects` draws; one
    subject is written as told (the workflow passes ``without_dwi`` from the same draw).
    """
    if without_dwi and not subject:
        raise NeuropeftError("--without-dwi applies to one --subject; give the subject")
    if threads < 1:
        raise NeuropeftError(f"--threads must be >= 1, got {threads}")
    if out_dir.exists() and not out_dir.is_dir():
        raise NeuropeftError(f"--out {out_dir} is a file; give a folder path")
    if subject:
        write_demo_subject(out_dir, settings, subject, not without_dwi)
    elif dataset_only:
        write_dataset_files(out_dir, settings)
    else:
        make_demo_cohort(out_dir, settings, workers=threads)
