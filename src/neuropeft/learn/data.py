"""Volumes read from the memory-mapped cohort stack, with seeded light augmentation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from neuropeft.errors import NeuropeftError

#: a model's input: volumes (B, C, X, Y, Z), or volumes and covariates (B, D) (batches collate the pair as a list)
ModelInput = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor]


@dataclass
class Augment:
    """Augmentation strengths (all off by default)."""

    flip: bool = False  # left-right flip (first spatial axis) with probability 0.5
    rotate_deg: float = 0.0  # rotation up to ± degrees about each axis
    scale: float = 0.0  # isotropic scaling by a factor in [1 - scale, 1 + scale]
    intensity: float = 0.0  # intensity scaling by a factor in [1 - intensity, 1 + intensity]

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return self.flip or not self.only_flips

    @property
    def only_flips(self) -> bool:
        """Whether the augmentation, if any, is the flip alone (a volume is then one of two)."""
        return not (self.rotate_deg > 0 or self.scale > 0 or self.intensity > 0)


def _rotation(angles: torch.Tensor) -> torch.Tensor:
    """3×3 rotation from three angles (radians) about the three axes."""
    cx, cy, cz = torch.cos(angles)
    sx, sy, sz = torch.sin(angles)
    rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = torch.tensor([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def augment_volume(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Apply flip, affine (``affine_grid``/``grid_sample``, zero padding) and intensity scaling to (C, X, Y, Z)."""
    u = torch.rand(6, generator=generator, dtype=torch.float64)
    if aug.flip and u[0] < 0.5:
        x = torch.flip(x, dims=(1,))
    if aug.rotate_deg > 0 or aug.scale > 0:
        angles = (u[1:4] * 2 - 1) * math.radians(aug.rotate_deg)
        factor = 1 + (u[4].item() * 2 - 1) * aug.scale
        theta = torch.zeros(1, 3, 4, dtype=torch.float32)
        theta[0, :, :3] = (_rotation(angles) / factor).float()
        grid = torch.nn.functional.affine_grid(theta, [1, *x.shape], align_corners=False)
        x = torch.nn.functional.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[
            0
        ]
    if aug.intensity > 0:
        x = x * float(1 + (u[5].item() * 2 - 1) * aug.intensity)
    return x


class VolumeDataset(Dataset):
    """Rows of ``model_input.npy`` opened with ``mmap_mode="r"`` (per worker; never loaded whole).

    Item ``i`` is ``(volume (C, X, Y, Z) float32, target, i)``, or ``((volume, covariates), target, i)``
    with ``covariates`` (N, D) (the model's input is then the pair); ``channels`` picks the stack's
    channels the model takes (None: all), ``blank`` zeroes some of those (a modality made absent, as a
    subject lacking it has zeros there); augmentation draws from a generator
    seeded by (seed, epoch, i), so it is the same whatever the worker count or a resume.
    """

    def __init__(
        self,
        array_path: str | Path,
        rows: Sequence[int],
        targets: torch.Tensor,
        augment: Augment | None = None,
        seed: int = 0,
        covariates: torch.Tensor | None = None,
        channels: Sequence[int] | None = None,
        blank: Sequence[int] = (),
    ) -> None:
        self.array_path = str(array_path)
        self.channels = None if channels is None else [int(c) for c in channels]
        self.blank = [int(c) for c in blank]
        self.covariates = covariates
        self.rows = [int(r) for r in rows]
        self.targets = targets
        self.augment = augment or Augment()
        self.seed = seed
        self.epoch = 0
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_array"] = None  # each worker maps the file itself
        return state

    @property
    def array(self) -> np.ndarray:
        """The memory-mapped stack."""
        if self._array is None:
            self._array = np.load(self.array_path, mmap_mode="r")
        return self._array

    def _generator(self, i: int) -> torch.Generator:
        """The generator of item ``i``'s augmentation this epoch."""
        return torch.Generator().manual_seed(((self.seed * 100_003 + self.epoch) * 1_000_003 + i) % 2**62)

    def volume(self, i: int) -> torch.Tensor:
        """Item ``i``'s volume as stored (its ``channels``, ``blank`` ones zeroed; no augmentation)."""
        stored = self.array[self.rows[i]]
        volume = np.array(stored if self.channels is None else stored[self.channels], dtype=np.float32)
        volume[self.blank] = 0.0
        return torch.from_numpy(volume)

    def flips(self, i: int) -> bool:
        """Whether item ``i`` is flipped this epoch (the same draw as :func:`augment_volume`'s)."""
        return self.augment.flip and bool(torch.rand(6, generator=self._generator(i), dtype=torch.float64)[0] < 0.5)

    def model_input(self, volumes: torch.Tensor, items: Sequence[int]) -> ModelInput:
        """What the model takes for ``volumes`` of ``items``: the volumes, or (volumes, their covariates)."""
        return volumes if self.covariates is None else (volumes, self.covariates[list(items)])

    def __getitem__(self, i: int) -> tuple[ModelInput, torch.Tensor, int]:
        x = self.volume(i)
        if self.augment.active:
            x = augment_volume(x, self.augment, self._generator(i))
        return (x if self.covariates is None else (x, self.covariates[i])), self.targets[i], i


class FeatureDataset(Dataset):
    """A frozen backbone's features of a :class:`VolumeDataset`'s items, computed once.

    Item ``i`` is ``(features of volume i, target, i)``, or the features of the flipped volume when the
    volumes' augmentation flips item ``i`` this epoch (``flipped``: features of every flipped volume;
    None when the augmentation never flips). Batches therefore hold what the frozen backbone would give.
    """

    def __init__(self, volumes: VolumeDataset, features: torch.Tensor, flipped: torch.Tensor | None = None) -> None:
        self.volumes = volumes
        self.features = features
        self.flipped = flipped

    @property
    def epoch(self) -> int:
        """The epoch of the flips (that of the volumes' augmentation)."""
        return self.volumes.epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self.volumes.epoch = epoch

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        flip = self.flipped is not None and self.volumes.flips(i)
        return (self.flipped if flip else self.features)[i], self.volumes.targets[i], i


def fold_tables(index: pd.DataFrame, folds: pd.DataFrame, fold: int, n_rows: int) -> dict[str, pd.DataFrame]:
    """Index rows of one fold by role (train, val, test), refusing rows the folds table lacks."""
    part = folds[folds["fold"].astype(int) == fold]
    if part.empty:
        raise NeuropeftError(f"fold {fold} is not in the folds table (folds: {sorted(set(folds['fold'].astype(int)))})")
    merged = index.merge(part[["participant_id", "session", "role"]], on=["participant_id", "session"], how="left")
    lost = merged[merged["role"].isna()]
    if not lost.empty:
        raise NeuropeftError(
            f"{lost['participant_id'].iloc[0]} session {lost['session'].iloc[0]!r} has no role in fold {fold}; "
            "recompute the folds for this index"
        )
    if (merged["row"] >= n_rows).any() or (merged["row"] < 0).any():
        raise NeuropeftError(f"index rows exceed the array's {n_rows} volumes; rebuild model_input together")
    tables = {role: merged[merged["role"] == role].reset_index(drop=True) for role in ("train", "val", "test")}
    for role, table in tables.items():
        if table.empty:
            raise NeuropeftError(f"fold {fold} has no {role} subjects; check the folds table")
    return tables
