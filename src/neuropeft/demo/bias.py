"""Smooth multiplicative bias fields (receive-coil shading), fixed in scanner coordinates."""

from __future__ import annotations

import numpy as np


def bias_field(rng: np.random.Generator, world: np.ndarray, head: np.ndarray, strength: float) -> np.ndarray:
    """A bias field (n,) at world points (3, n): exp of a random quadratic polynomial in x, y, z.

    The polynomial is scaled so the field spans 1/(1+strength) .. 1+strength over the ``head``
    points (boolean (n,)); strength 0 gives a field of ones.
    """
    centre = world[:, head].mean(axis=1, keepdims=True) if head.any() else np.zeros((3, 1))
    u = (world - centre) / 100.0
    x, y, z = u
    c = rng.normal(size=9) * np.array([1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    log_field = x * (c[0] + c[3] * x + c[6] * y + c[7] * z) + y * (c[1] + c[4] * y + c[8] * z) + z * (c[2] + c[5] * z)
    log_field -= 0.5 * (log_field[head].max(initial=0.0) + log_field[head].min(initial=0.0))
    peak = np.abs(log_field[head]).max(initial=0.0)
    scale = np.log1p(strength) / peak if peak > 0 else 0.0
    return np.exp(log_field * scale)
