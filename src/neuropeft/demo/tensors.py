"""Diffusion tensors of the demo tissues and the single-tensor signal they give.

Every tissue tensor is cylindrical (eigenvalues λ∥, λ⊥, λ⊥) about the local fibre direction e, and
all oriented tissues share e, so a partial-volume mix D = Σ w_c D_c (w_c: S0-weighted fractions) is
again cylindrical: D = a·I + d·e eᵀ.  The image is S = S0 · exp(-b gᵀ D g), exactly the DTI model,
so a noise-free tensor fit returns D, and the true FA/MD are those of D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tissue:
    """A compartment: FA, MD (mm²/s) and b=0 signal relative to white matter."""

    fa: float
    md: float
    s0: float


#: tissue properties at the middle of the age range (ages shift WM FA and WM/GM MD)
WM = Tissue(fa=0.60, md=0.70e-3, s0=1.0)
GM = Tissue(fa=0.12, md=0.80e-3, s0=1.15)
CSF = Tissue(fa=0.0, md=3.0e-3, s0=1.8)
SCALP = Tissue(fa=0.0, md=1.0e-3, s0=0.3)
#: b=0 white-matter signal (image units) at a site with intensity scale 1
S0_WM = 1000.0


def cylinder_eigenvalues(fa: np.ndarray | float, md: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``(λ∥, λ⊥)`` of the cylindrical tensor with the given FA and MD."""
    fa = np.asarray(fa, dtype=float)
    k = fa / np.sqrt(3 - 2 * fa**2)
    return md * (1 + 2 * k), md * (1 - k)


def cylinder_fa_md(perp: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FA and MD of the tensor a·I + d·e eᵀ (eigenvalues a+d, a, a) from ``perp`` = a, ``spread`` = d."""
    md = perp + spread / 3
    norm = np.sqrt((perp + spread) ** 2 + 2 * perp**2)
    fa = np.divide(np.abs(spread), norm, out=np.zeros_like(norm), where=norm > 0)
    return fa, md


def mix(
    fractions: list[np.ndarray], fas: list[np.ndarray | float], mds: list[np.ndarray | float], s0s: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial-volume mix of compartments: ``(S0, a, d)`` of S0·exp(-b gᵀ(a·I + d·e eᵀ)g)."""
    s0 = sum(p * w for p, w in zip(fractions, s0s, strict=False))
    perp = np.zeros_like(s0)
    spread = np.zeros_like(s0)
    for p, fa, md, w in zip(fractions, fas, mds, s0s, strict=False):
        par_c, perp_c = cylinder_eigenvalues(fa, md)
        perp += p * w * perp_c
        spread += p * w * (par_c - perp_c)
    safe = np.where(s0 > 0, s0, 1.0)
    return s0, perp / safe, spread / safe


def dwi_signal(
    s0: np.ndarray, perp: np.ndarray, spread: np.ndarray, direction: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray
) -> np.ndarray:
    """Noise-free float32 signal (volumes, n) for unit fibre ``direction`` (3, n) and gradients in the same frame."""
    signal = (bvecs @ direction).astype(np.float32)  # cosines
    signal *= signal
    signal *= spread.astype(np.float32)
    signal += perp.astype(np.float32)
    signal *= -bvals.astype(np.float32)[:, None]
    np.exp(signal, out=signal)
    signal *= s0.astype(np.float32)
    return signal
