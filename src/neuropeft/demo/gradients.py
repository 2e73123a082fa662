"""The diffusion gradient table of the demo protocol (the same for every subject)."""

from __future__ import annotations

import functools

import numpy as np

from neuropeft.demo.settings import DemoSettings

#: decimals written to the .bvec file; the signal is made with exactly these rounded vectors
BVEC_DECIMALS = 6


def gradient_table(settings: DemoSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(bvals (n,), bvecs (n, 3))`` in FSL convention for an LAS image (voxel axes, no flip).

    The b=0 volumes are spread evenly through the series, starting with volume 0.
    """
    n = settings.n_directions
    directions = _directions(n)
    total = n + settings.n_b0
    b0_index = np.round(np.linspace(0, total, settings.n_b0, endpoint=False)).astype(int)
    is_b0 = np.zeros(total, dtype=bool)
    is_b0[b0_index] = True
    bvals = np.where(is_b0, 0.0, float(settings.bvalue))
    bvecs = np.zeros((total, 3))
    bvecs[~is_b0] = directions
    return bvals, bvecs


@functools.lru_cache(maxsize=8)
def _directions(n: int) -> np.ndarray:
    """``n`` directions spread by electrostatic repulsion (antipodally symmetric), from a Fibonacci start."""
    from dipy.core.sphere import HemiSphere, disperse_charges

    i = np.arange(n) + 0.5
    z = 1 - i / n
    phi = i * np.pi * (3 - np.sqrt(5))
    r = np.sqrt(1 - z**2)
    sphere, _ = disperse_charges(HemiSphere(xyz=np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)), 1000)
    vectors = sphere.vertices * np.where(sphere.vertices[:, 2:] < 0, -1.0, 1.0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.round(vectors, BVEC_DECIMALS)


def format_bval(bvals: np.ndarray) -> str:
    """One line of b-values (FSL .bval)."""
    return " ".join(f"{b:g}" for b in bvals) + "\n"


def format_bvec(bvecs: np.ndarray) -> str:
    """Three lines, x, y and z components (FSL .bvec)."""
    return "".join(" ".join(f"{v:.{BVEC_DECIMALS}f}" for v in row) + "\n" for row in bvecs.T + 0.0)
