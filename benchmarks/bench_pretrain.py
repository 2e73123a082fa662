"""Does self-supervised pre-training help a linear probe? Out-of-fold AUC, pre-trained vs random backbone.

A small synthetic cohort: every volume holds a few gaussian balls at random places (the "anatomy"
that varies between subjects) and noise; label-1 subjects carry a brighter central cube (the planted
effect). Each strategy pre-trains its backbone on all volumes (labels unused, as in the workflow),
then the learning stage trains ``linear_probe`` on every fold with ``init`` = that checkpoint and,
once per backbone, with a random backbone. Prints one TSV row per backbone × init: out-of-fold AUC,
pre-training seconds per epoch and the loss at the first and last epoch. CPU, about 5 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.learn.pretrain import PretrainSettings, pretrain
from neuropeft.learn.train import train_fold

#: strategy -> (backbone, pre-training settings beyond the shared ones)
STRATEGIES = {
    "mae": ("vit-tiny", {"decoder_dim": 48, "decoder_heads": 4, "lr": 1e-3}),
    "reconstruction": ("resnet10", {"decoder_dim": 32, "lr": 1e-3}),
    "contrastive": ("resnet10", {"lr": 3e-4, "temperature": 0.2}),
}


def make_cohort(root: Path, n_subjects: int, side: int, effect: float, seed: int) -> tuple[Path, Path]:
    """model_input.npy/.tsv: random balls + noise; label 1 adds ``effect`` in the central cube."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).astype(np.float32)
    centre = slice(side // 4, 3 * side // 4)
    volumes, rows = [], []
    for i in range(n_subjects):
        volume = rng.normal(0, 0.5, (side, side, side)).astype(np.float32)
        for _ in range(3):
            c, r = rng.uniform(0.2 * side, 0.8 * side, 3), rng.uniform(0.08 * side, 0.2 * side)
            volume += rng.uniform(0.5, 1.5) * np.exp(-((grid - c) ** 2).sum(-1) / (2 * r**2))
        if i % 2:
            volume[centre, centre, centre] += effect
        volumes.append(volume[None])
        rows.append((i, f"sub-{i + 1:03d}", "n/a", i % 2, "a"))
    np.save(root / "model_input.npy", np.stack(volumes))
    pd.DataFrame(rows, columns=["row", "participant_id", "session", "target", "site"]).to_csv(
        root / "model_input.tsv", sep="\t", index=False
    )
    return root / "model_input.npy", root / "model_input.tsv"


def probe_auc(
    root: Path, array: Path, index: Path, folds: Path, n_folds: int, backbone: str, init: str, epochs: int, tag: str
) -> float:
    """Out-of-fold AUC of ``linear_probe`` (linear head) on every fold."""
    settings = ExperimentSettings(
        name=tag,
        backbone=backbone,
        method="linear_probe",
        head="linear",
        epochs=epochs,
        lr=3e-3,
        warmup_epochs=1,
        patience=epochs,
        batch_size=4,
        init=init,
    )
    predictions = []
    for fold in range(n_folds):
        out = root / "probe" / tag / f"fold-{fold}"
        train_fold(array, index, folds, fold, out, settings, torch.device("cpu"))
        predictions.append(pd.read_csv(out / "predictions.tsv", sep="\t"))
    pooled = pd.concat(predictions)
    return float(roc_auc_score(pooled.y_true, pooled.prob_1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), help="strategies to compare (default all)")
    parser.add_argument("--subjects", type=int, default=32, help="synthetic subjects (default 32)")
    parser.add_argument("--side", type=int, default=32, help="cubic volume side (default 32)")
    parser.add_argument(
        "--effect",
        type=float,
        default=0.3,
        help="brightness added to the central cube of label-1 volumes; noise std 0.5 (default 0.3)",
    )
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds (default 3)")
    parser.add_argument(
        "--pretrain-epochs", type=int, default=10, help="pre-training epochs (mae: 4x this) (default 10)"
    )
    parser.add_argument("--probe-epochs", type=int, default=10, help="linear-probe epochs per fold (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cohort and every run (default 0)")
    parser.add_argument("--work-dir", default="", help="keep outputs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work_dir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        array, index = make_cohort(root, args.subjects, args.side, args.effect, args.seed)
        folds = root / "folds.tsv"
        make_folds(read_index(index), FoldSettings(n_folds=args.folds, val_fraction=0.25, seed=args.seed)).to_csv(
            folds, sep="\t", index=False
        )
        columns = [
            "backbone",
            "init",
            "oof_auc",
            "pretrain_epochs",
            "pretrain_s_per_epoch",
            "loss_first",
            "loss_last",
            "probe_seconds",
        ]
        print("\t".join(columns), flush=True)
        random_done: set[str] = set()
        for strategy in args.strategies:
            backbone, extra = STRATEGIES[strategy]
            if backbone not in random_done:
                tick = time.time()
                auc = probe_auc(
                    root, array, index, folds, args.folds, backbone, "random", args.probe_epochs, f"{backbone}-random"
                )
                print(f"{backbone}\trandom\t{auc:.3f}\t0\t\t\t\t{time.time() - tick:.0f}", flush=True)
                random_done.add(backbone)
            epochs = args.pretrain_epochs * (4 if strategy == "mae" else 1)
            settings = dataclasses.replace(
                PretrainSettings(),
                name=strategy,
                backbone=backbone,
                strategy=strategy,
                epochs=epochs,
                batch_size=8,
                warmup_epochs=1,
                seed=args.seed,
                **extra,
            )
            out = root / "pretrain" / strategy
            pretrain(array, index, out, settings, torch.device("cpu"))
            run = json.loads((out / "run.json").read_text())
            tick = time.time()
            auc = probe_auc(
                root,
                array,
                index,
                folds,
                args.folds,
                backbone,
                str(out / "backbone.safetensors"),
                args.probe_epochs,
                f"{backbone}-{strategy}",
            )
            curve = run["loss_curve"]
            print(
                f"{backbone}\t{strategy}\t{auc:.3f}\t{epochs}\t{run['seconds_per_epoch']:.2f}\t{curve[0]:.4f}\t{curve[-1]:.4f}\t{time.time() - tick:.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
