"""Synthetic segmentation data: noisy volumes with balls to segment (imported, not collected)."""

from __future__ import annotations

import numpy as np


def make_balls(
    n_subjects: int, side: int = 32, radius: float = 5.0, seed: int = 0, dark: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, side, side, side) float32 and label maps (N, side, side, side) int32 over unit
    Gaussian noise: a ball of ``radius`` voxels 1.5 brighter, labelled 1, at a random position; with
    ``dark``, also a ball 1.5 darker, labelled 2, in the other half of the first axis."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1)
    images, labels = [], []
    for _ in range(n_subjects):
        image = rng.normal(0, 1, (1, side, side, side))
        label = np.zeros((side,) * 3, np.int32)
        low, high = radius + 1, side - radius - 2
        bright = rng.uniform(low, high, size=3)
        balls = [(bright, 1.5, 1)]
        if dark:
            bright[0] = rng.uniform(low, side / 2 - radius - 1)
            balls.append((np.r_[rng.uniform(side / 2 + 1, high), rng.uniform(low, high, size=2)], -1.5, 2))
        for centre, contrast, value in balls:
            inside = np.linalg.norm(grid - centre, axis=-1) <= radius
            image[0][inside] += contrast
            label[inside] = value
        images.append(image.astype(np.float32))
        labels.append(label)
    return np.stack(images), np.stack(labels)
