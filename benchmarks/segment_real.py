"""Segmentation checked against truth: the demo's tissue classes, then ten real IXI heads with their
DLMUSE labels (../shared/data/real/ixi10, grouped by config/dlmuse_groups.tsv into ventricles, white
matter, grey matter and cerebellum), through the whole workflow.

1. The demo (``--demo-subjects`` subjects, T1w only) trains a tiny UNETR from scratch on its true
   CSF/GM/WM classes (2 folds); fold 0's network is the "pre-trained" checkpoint of step 2 — no
   pre-trained UNETR can be downloaded here, and the demo is synthesised from the MNI template.
2. The real heads (5 folds of 2 test subjects) train the same network from scratch, and fine-tune
   the demo checkpoint with LoRA (adapters + output block), the decoder, and every parameter.

Prints Dice per class (mean ± SD over folds) of every experiment, and the seconds per fold.
Run: ``.venv/bin/python benchmarks/segment_real.py --workdir /tmp/segment_real``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
IXI10 = ROOT.parent / "shared" / "data" / "real" / "ixi10"
GRID = {"voxel_mm": 3, "shape": [56, 64, 56], "interpolation": "linear", "md_scale": 0.003}
NETWORK = {"backbone": "unetr-tiny", "batch_size": 2, "warmup_epochs": 1, "patience": 100}


def snakemake(workdir: Path, config: dict, cores: int) -> float:
    """Run the workflow in ``workdir`` with ``config``; its wall time in seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    command += ["--cores", str(cores), "--configfile", str(workdir / "config.yaml"), "--quiet", "rules"]
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def dice_table(workdir: Path) -> pd.DataFrame:
    """Dice per class (mean ± SD over folds) and seconds per fold of every experiment."""
    table = pd.read_csv(workdir / "results/metrics/comparison.tsv", sep="\t")
    columns = [
        c
        for c in table.columns
        if c.startswith("dice") and not c.endswith(("_mean", "_sd", "_pooled", "_low", "_high"))
    ]
    return table[["experiment", "method", *columns, "trainable_params", "train_seconds_mean"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--demo-subjects", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    demo = {
        "task": "segmentation",
        "modalities": ["t1w"],
        "demo": {"n_subjects": args.demo_subjects},
        "demo_model_grid": GRID,
        "folds": {"n_folds": 2},
        "segmentation_experiments": [
            {"name": "demo-scratch", "method": "scratch", "epochs": args.epochs, "lr": 3e-3, **NETWORK}
        ],
    }
    demo_seconds = snakemake(args.workdir / "demo", demo, args.cores)
    checkpoint = args.workdir / "demo/results/models/demo-scratch/fold-0/weights.safetensors"
    tuned = {"epochs": args.epochs, "init": str(checkpoint), **NETWORK}
    real = {
        "bids_dir": str(IXI10),
        "target": "site",
        "task": "segmentation",
        "modalities": ["t1w"],
        "model_grid": GRID,
        "segmentation": {
            "labels_dir": "derivatives/dlmuse",
            "desc": "DLMUSE",
            "label_groups": str(ROOT / "config" / "dlmuse_groups.tsv"),
        },
        "folds": {"n_folds": 5, "val_fraction": 0.15},
        "segmentation_experiments": [
            {"name": "real-scratch", "method": "scratch", "epochs": args.epochs, "lr": 3e-3, **NETWORK},
            {"name": "real-full", "method": "full", "lr": 1e-3, **tuned},
            {"name": "real-decoder", "method": "decoder", "lr": 3e-3, **tuned},
            {"name": "real-lora", "method": "lora", "lr": 1e-2, **tuned},
        ],
    }
    real_seconds = snakemake(args.workdir / "real", real, args.cores)
    pd.set_option("display.width", 200)
    print(f"demo tissue classes ({args.demo_subjects} subjects, 2 folds; {demo_seconds:.0f} s):")
    print(dice_table(args.workdir / "demo").to_string(index=False))
    print(f"\nIXI heads, DLMUSE classes (10 subjects, 5 folds; {real_seconds:.0f} s):")
    print(dice_table(args.workdir / "real").to_string(index=False))


if __name__ == "__main__":
    main()
