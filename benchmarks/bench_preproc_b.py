"""Seconds and peak memory of ``fit-tensor`` and ``resample`` for one default demo subject.

Run: ``.venv/bin/python benchmarks/bench_preproc_b.py`` (outputs under benchmarks/out/preproc_b).
The demo subject (defaults: 2.5 mm DWI, 3 b=0 + 30 directions) is made once; the registration
(``register_to_template`` of the masked mean b=0, set-up only) gives the transforms. Each measured
step runs the CLI in a fresh process, so its peak resident memory is its own. Also prints the FA
error in white matter against the demo's ground truth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from step_timer import measure

OUT = Path(__file__).resolve().parent / "out" / "preproc_b"
SUB = "sub-001"
#: fit-tensor's output options and map names
MAPS = {"fa": "FA", "md": "MD", "ad": "AD", "rd": "RD", "color-fa": "colorFA"}


def main() -> None:
    from neuropeft.demo.cohort import make_demo_cohort
    from neuropeft.demo.settings import DemoSettings
    from neuropeft.preproc.registration import RegistrationSettings, register_to_template

    if not (OUT / "demo" / "bids" / "participants.tsv").exists():
        make_demo_cohort(OUT / "demo", DemoSettings(n_subjects=1))
    dwi_dir, truth = OUT / "demo" / "bids" / SUB / "dwi", OUT / "demo" / "truth" / SUB
    dwi = nib.load(dwi_dir / f"{SUB}_dwi.nii.gz")
    mask = truth / f"{SUB}_dwi_brainmask.nii.gz"
    print(
        f"DWI {dwi.shape} at {dwi.header.get_zooms()[:3]} mm, brain voxels {int((nib.load(mask).get_fdata() > 0).sum())}"
    )

    bvals = np.loadtxt(dwi_dir / f"{SUB}_dwi.bval")
    meanb0 = dwi.get_fdata()[..., bvals < 50].mean(axis=-1) * (nib.load(mask).get_fdata() > 0)
    start = time.perf_counter()
    register_to_template(
        nib.Nifti1Image(meanb0.astype(np.float32), dwi.affine),
        "dwi",
        RegistrationSettings(),
        OUT / f"{SUB}_transforms.json",
        OUT / f"{SUB}_b0.nii.gz",
        "meanb0",
    )
    print(f"set-up registration (Affine, mean b0): {time.perf_counter() - start:.1f} s")

    prefix = OUT / SUB
    for method in ("WLS", "OLS", "NLLS", "RESTORE"):
        seconds, peak = measure(
            [
                "fit-tensor",
                "--dwi",
                str(dwi_dir / f"{SUB}_dwi.nii.gz"),
                "--bval",
                str(dwi_dir / f"{SUB}_dwi.bval"),
                "--bvec",
                str(dwi_dir / f"{SUB}_dwi.bvec"),
                "--mask",
                str(mask),
                *[
                    arg
                    for option, name in MAPS.items()
                    for arg in (f"--out-{option}", f"{prefix}_{method}_{name}.nii.gz")
                ],
                "--settings",
                json.dumps({"fit_method": method}),
            ]
        )
        wm = nib.load(truth / f"{SUB}_dwi_wmmask.nii.gz").get_fdata() > 0
        fa, fa_true = (
            nib.load(f"{prefix}_{method}_FA.nii.gz").get_fdata(),
            nib.load(truth / f"{SUB}_dwi_FA.nii.gz").get_fdata(),
        )
        print(
            f"fit-tensor {method:8s}: {seconds:6.1f} s  peak {peak:6.0f} MiB  FA MAE in WM {np.abs(fa[wm] - fa_true[wm]).mean():.4f}"
        )

    seconds, peak = measure(
        [
            "resample",
            "--image",
            f"{prefix}_WLS_FA.nii.gz",
            "--image",
            f"{prefix}_WLS_MD.nii.gz",
            "--transforms-json",
            f"{prefix}_transforms.json",
            "--mask",
            str(mask),
            "--out",
            f"{prefix}_model.nii.gz",
        ]
    )
    volume = nib.load(f"{prefix}_model.nii.gz")
    print(f"resample (FA, MD -> {volume.shape}): {seconds:6.1f} s  peak {peak:6.0f} MiB")
    print("(each figure includes ~1-2 s of Python start-up and imports)")


if __name__ == "__main__":
    main()
