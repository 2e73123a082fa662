"""Seconds, peak memory and accuracy of n4, skullstrip and register for one default demo subject.

Run: ``.venv/bin/python benchmarks/bench_preproc_a.py`` (outputs under benchmarks/out/preproc_a).
The demo subject (defaults: 2 mm T1w, 2.5 mm DWI with 3 b=0 + 30 directions) is made once. Each
step runs the CLI with default settings in a fresh interpreter, so its peak resident memory
(VmHWM) is its own; the steps are chained as in the workflow (N4 -> skull strip -> register).
Accuracy against the demo's truth: bias-field correlation in the brain, mask Dice, pose error.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from step_timer import measure

OUT = Path(__file__).resolve().parent / "out" / "preproc_a"
SUB = "sub-001"


def load(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def main() -> None:
    from neuropeft.demo.cohort import make_demo_cohort
    from neuropeft.demo.settings import DemoSettings
    from neuropeft.preproc.registration import pose_error_mm
    from neuropeft.preproc.template import template_brain_mask

    if not (OUT / "demo" / "bids" / "participants.tsv").exists():
        make_demo_cohort(OUT / "demo", DemoSettings(n_subjects=1))
    bids, truth, work = OUT / "demo" / "bids" / SUB, OUT / "demo" / "truth" / SUB, OUT / SUB
    t1w, dwi = bids / "anat" / f"{SUB}_T1w.nii.gz", bids / "dwi" / f"{SUB}_dwi.nii.gz"
    bval = dwi.with_name(f"{SUB}_dwi.bval")
    print(
        f"T1w {nib.load(t1w).shape} at {nib.load(t1w).header.get_zooms()[:3]} mm; "
        f"DWI {nib.load(dwi).shape} at {nib.load(dwi).header.get_zooms()[:3]} mm"
    )

    steps = [
        ("n4-t1w", ["--t1w", t1w, "--out", work / "t1w_n4.nii.gz", "--field", work / "t1w_field.nii.gz"]),
        (
            "n4-dwi",
            ["--dwi", dwi, "--bval", bval, "--out", work / "dwi_n4.nii.gz", "--field", work / "dwi_field.nii.gz"],
        ),
        (
            "skullstrip-t1w",
            [
                "--t1w",
                work / "t1w_n4.nii.gz",
                "--out-mask",
                work / "t1w_mask.nii.gz",
                "--out-brain",
                work / "t1w_brain.nii.gz",
            ],
        ),
        (
            "skullstrip-dwi",
            [
                "--dwi",
                work / "dwi_n4.nii.gz",
                "--bval",
                bval,
                "--out-mask",
                work / "dwi_mask.nii.gz",
                "--out-meanb0",
                work / "dwi_b0.nii.gz",
            ],
        ),
        ("register", ["--moving", work / "t1w_brain.nii.gz", "--modality", "t1w", *registered(work / "t1w")]),
        ("register", ["--moving", work / "dwi_b0.nii.gz", "--modality", "dwi", *registered(work / "dwi")]),
    ]
    timing = []
    for name, argv in steps:
        seconds, peak = measure([name, *argv])
        timing.append((name + (f" {argv[3]}" if name == "register" else ""), seconds, peak))

    def corr(field: str, modality: str) -> float:
        brain = load(truth / f"{SUB}_{modality}_brainmask.nii.gz") > 0
        return float(
            np.corrcoef(load(work / field)[brain], load(truth / f"{SUB}_{modality}_biasfield.nii.gz")[brain])[0, 1]
        )

    def dice(mask: str, modality: str) -> float:
        a, b = load(work / mask) > 0, load(truth / f"{SUB}_{modality}_brainmask.nii.gz") > 0
        return float(2 * (a & b).sum() / (a.sum() + b.sum()))

    pose = truth / f"{SUB}_pose.json"
    quality = [
        f"bias field r = {corr('t1w_field.nii.gz', 'T1w'):.3f}",
        f"bias field r = {corr('dwi_field.nii.gz', 'dwi'):.3f}",
        f"Dice = {dice('t1w_mask.nii.gz', 'T1w'):.3f}",
        f"Dice = {dice('dwi_mask.nii.gz', 'dwi'):.3f}",
    ]
    for modality in ("t1w", "dwi"):
        error = pose_error_mm(work / f"{modality}_transforms.json", pose, template_brain_mask(2))
        quality.append(f"pose error = {error:.2f} mm ({error / 2:.2f} voxels of 2 mm)")

    print("\n| step | seconds | peak RSS (MiB) | accuracy vs truth |\n| --- | ---: | ---: | --- |")
    for (name, seconds, peak), q in zip(timing, quality, strict=False):
        print(f"| {name} | {seconds:.1f} | {peak:.0f} | {q} |")


def registered(prefix: Path) -> list[object]:
    """register's output options for the files ``PREFIX_transforms.json`` and ``PREFIX_registered.nii.gz``."""
    return ["--out-transforms", f"{prefix}_transforms.json", "--out-registered", f"{prefix}_registered.nii.gz"]


if __name__ == "__main__":
    main()
