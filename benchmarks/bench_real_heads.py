"""Skull stripping and registration of real T1w heads against reference brain masks, per head.

Run: ``.venv/bin/python benchmarks/bench_real_heads.py [--heads N] [--data DIR]`` (outputs under
benchmarks/out/real_heads). The heads are ``../shared/data/real/ixi10`` (10 IXI whole-head T1w
scans with DLMUSE reference brain masks). Each head goes through the package's own steps, each in
a fresh interpreter with default settings (n4-t1w -> skullstrip-t1w -> register, as the workflow
chains them), and is scored:

* mask Dice: the skull-stripping mask against the reference mask (native grid);
* registration Dice: the reference mask carried to template space by the pipeline's own forward
  transform, against the template's brain mask (:func:`neuropeft.preproc.accuracy.registration_dice`);
* seconds: the three steps' wall time, interpreter start included.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from step_timer import measure

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "real_heads"
IXI = ROOT.parent.parent / "shared" / "data" / "real" / "ixi10"


def run_head(t1w: Path, work: Path) -> float:
    """n4-t1w -> skullstrip-t1w -> register on one head; returns the seconds of the three steps."""
    steps = [
        ("n4-t1w", ["--t1w", t1w, "--out", work / "n4.nii.gz", "--field", work / "field.nii.gz"]),
        (
            "skullstrip-t1w",
            ["--t1w", work / "n4.nii.gz", "--out-mask", work / "mask.nii.gz", "--out-brain", work / "brain.nii.gz"],
        ),
        (
            "register",
            [
                "--moving",
                work / "brain.nii.gz",
                "--modality",
                "t1w",
                "--out-transforms",
                work / "reg_transforms.json",
                "--out-registered",
                work / "reg_registered.nii.gz",
            ],
        ),
    ]
    return sum(measure([name, *argv])[0] for name, argv in steps)


def main() -> None:
    from neuropeft.preproc.accuracy import mask_dice, registration_dice

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=IXI, help="BIDS folder with derivatives/dlmuse reference masks")
    parser.add_argument("--heads", type=int, default=10, help="how many heads to run (alphabetical)")
    args = parser.parse_args()
    heads = sorted(p.name for p in args.data.glob("sub-*"))[: args.heads]
    if not heads:
        raise SystemExit(f"{args.data}: no sub-* folders; pass --data with the ixi10 BIDS folder")
    print("| head | mask Dice | registration Dice | seconds |\n| --- | ---: | ---: | ---: |")
    rows = []
    for head in heads:
        work = OUT / head
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        seconds = run_head(args.data / head / "anat" / f"{head}_T1w.nii.gz", work)
        reference = args.data / "derivatives" / "dlmuse" / head / "anat" / f"{head}_desc-brain_mask.nii.gz"
        row = (
            mask_dice(work / "mask.nii.gz", reference),
            registration_dice(reference, work / "reg_transforms.json"),
            seconds,
        )
        rows.append(row)
        print(
            f"| {head} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.1f} |  ({time.perf_counter() - start:.0f} s with scoring)",
            flush=True,
        )
    values = np.asarray(rows)
    print(
        f"| min / mean | {values[:, 0].min():.3f} / {values[:, 0].mean():.3f} | {values[:, 1].min():.3f} / {values[:, 1].mean():.3f} | mean {values[:, 2].mean():.1f} |"
    )


if __name__ == "__main__":
    main()
