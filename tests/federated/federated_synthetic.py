"""A 3-site synthetic cohort with site-balanced folds, shared by the federated tests (imported, not collected)."""

from __future__ import annotations

from pathlib import Path

from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from tests.learn.learn_synthetic import make_synthetic

#: a small LoRA experiment on the CPU-sized ResNet, federated with FedAvg
EXPERIMENT = {
    "name": "fed-lora",
    "backbone": "resnet10",
    "method": "lora",
    "lora_rank": 4,
    "lr": 1e-3,
    "warmup_epochs": 1,
    "batch_size": 4,
    "federated": {"strategy": "fedavg", "rounds": 3, "local_epochs": 1, "min_clients": 2},
}


def make_sites(root: Path, n_subjects: int = 48, side: int = 16, effect: float = 1.0) -> tuple[Path, Path, Path]:
    """model_input.npy/.tsv of ``n_subjects`` at sites site0..site2, and folds.tsv (3 folds, site-balanced)."""
    array, index = make_synthetic(root, n_subjects=n_subjects, side=side, effect=effect)
    folds = root / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=3, val_fraction=0.25, site_balanced=True)).to_csv(
        folds, sep="\t", index=False
    )
    return array, index, folds
