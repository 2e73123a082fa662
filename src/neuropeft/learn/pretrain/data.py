"""Unlabelled augmented views of the volumes of the memory-mapped cohort stack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from neuropeft.learn.data import Augment, VolumeDataset, augment_volume


def augment_view(x: torch.Tensor, augment: Augment, noise_std: float, generator: torch.Generator) -> torch.Tensor:
    """One random view of (C, X, Y, Z): learn/data.py's flip, affine and intensity, then gaussian noise."""
    x = augment_volume(x, augment, generator)
    if noise_std > 0:
        x = x + noise_std * torch.randn(x.shape, generator=generator)
    return x


class AugmentedViews(Dataset):
    """Item ``i`` is ``views`` independently augmented copies of row ``rows[i]``: (views, C, X, Y, Z).

    Each view draws from a generator seeded by (seed, epoch, i, view), so the views are the same
    whatever the worker count or a resume, and differ between epochs and between the two views.
    """

    def __init__(
        self, array_path: str | Path, rows: Sequence[int], augment: Augment, noise_std: float, views: int, seed: int = 0
    ) -> None:
        self.volumes = VolumeDataset(array_path, rows, torch.zeros(len(rows)))
        self.augment = augment
        self.noise_std = noise_std
        self.views = views
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.volumes[i][0]
        views = []
        for view in range(self.views):
            seed = (((self.seed * 100_003 + self.epoch) * 1_000_003 + i) * 7 + view) % 2**62
            views.append(augment_view(x, self.augment, self.noise_std, torch.Generator().manual_seed(seed)))
        return torch.stack(views)
