"""Template-space anatomy of the demo head: the MNI152 2009a brain plus a synthetic skull and scalp.

Everything is on nilearn's 1 mm MNI152 2009a grid (RAS, mm).  The head layers cost about 2 s (a
distance transform of the whole grid), so they are computed once and kept in the template cache
folder; each demo job then reads them in a fraction of a second.
The head is built by growing the (smoothed) brain mask: up to ``SKULL_MM`` outside it lies skull
(no signal), then ``SCALP_MM`` of scalp (bright on T1w, faint on b=0), then air.  Pockets inside
the smoothed mask but outside the brain mask are extra-axial CSF.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
from scipy import ndimage

from neuropeft.atomic import atomic_path
from neuropeft.preproc.template import cache_dir, template_brain_mask, template_t1w, template_tissue

SKULL_MM = 5.0
SCALP_MM = 5.0
#: T1w intensities of the non-brain layers, relative to the template (white matter ≈ 0.87)
T1W_SCALP = 0.8
T1W_SKULL = 0.04
T1W_CSF = 0.25
#: T1w white-matter intensity of the template (used to set the noise level)
T1W_WM = 0.87


@dataclass(frozen=True)
class Anatomy:
    """Template-space maps on one grid; ``affine`` maps voxel indices to template world (mm)."""

    affine: np.ndarray
    t1w: np.ndarray  # whole-head T1w intensity
    brain: np.ndarray  # brain mask (0/1)
    wm: np.ndarray  # white-matter probability
    gm: np.ndarray  # grey-matter probability
    csf_extra: np.ndarray  # extra-axial CSF outside the brain mask (0/1)
    scalp: np.ndarray  # scalp (0/1)
    head_points_mm: np.ndarray  # (3, n) a sparse set of head points (template world)
    brain_points_mm: np.ndarray  # (3, n) a sparse set of brain points, to size grids and deformations


@functools.lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    """The whole-head template anatomy (cached per process, its head layers also on disk)."""
    t1_img = template_t1w(1)
    affine = np.asarray(t1_img.affine, dtype=float)
    brain = np.asarray(template_brain_mask(1).dataobj, dtype=np.float32)
    wm = np.asarray(template_tissue("wm", 1).dataobj, dtype=np.float32)
    gm = np.asarray(template_tissue("gm", 1).dataobj, dtype=np.float32)
    t1w, csf_extra, scalp = _cached_head_layers(np.asarray(t1_img.dataobj, dtype=np.float32), brain)

    def sparse_points(mask: np.ndarray) -> np.ndarray:
        ijk = np.argwhere(mask[::4, ::4, ::4]).T * 4
        return affine[:3, :3] @ ijk + affine[:3, 3:]

    return Anatomy(
        affine=affine,
        t1w=t1w,
        brain=brain,
        wm=wm,
        gm=gm,
        csf_extra=csf_extra,
        scalp=scalp,
        head_points_mm=sparse_points(t1w > 0),
        brain_points_mm=sparse_points(brain > 0),
    )


def _cached_head_layers(template: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`head_layers`, read from the cache folder (computed and stored on a miss)."""
    name = f"demo-head_nilearn-{version('nilearn')}_skull-{SKULL_MM}_scalp-{SCALP_MM}.npz"
    path = cache_dir() / name
    if not path.exists():
        t1w, csf_extra, scalp = head_layers(template, brain)
        buffer = io.BytesIO()
        np.savez(buffer, t1w=t1w, csf_extra=csf_extra.astype(np.uint8), scalp=scalp.astype(np.uint8))
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getvalue())
    with np.load(path) as layers:
        return layers["t1w"], layers["csf_extra"].astype(np.float32), layers["scalp"].astype(np.float32)


def head_layers(template: np.ndarray, brain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole-head T1w intensity, extra-axial CSF (0/1) and scalp (0/1) around the template brain."""
    smooth = ndimage.gaussian_filter(brain, sigma=4.0) > 0.3
    smooth |= brain > 0
    outside = ndimage.distance_transform_edt(~smooth).astype(np.float32)
    csf_extra = (smooth & (brain == 0)).astype(np.float32)
    skull = (outside > 0) & (outside <= SKULL_MM)
    scalp = ((outside > SKULL_MM) & (outside <= SKULL_MM + SCALP_MM)).astype(np.float32)
    t1w = template * brain + T1W_CSF * csf_extra + T1W_SKULL * skull + T1W_SCALP * scalp
    return t1w.astype(np.float32), csf_extra, scalp


def fibre_direction(xyz: np.ndarray) -> np.ndarray:
    """Unit principal fibre direction at template points ``xyz`` (3, n), a smooth field (3, n).

    Left-right near the midline (corpus callosum), superior-inferior laterally (corona radiata),
    tilting anterior-posterior towards the frontal and occipital poles.
    """
    x, y, z = xyz
    midline = np.exp(-((x / 20.0) ** 2))
    v = np.stack([midline, 0.5 * np.tanh(y / 30.0) * (1 - midline), (1 - midline) * (1 + 0.2 * np.tanh(z / 40.0))])
    return v / np.linalg.norm(v, axis=0, keepdims=True)


def in_ellipsoid(xyz: np.ndarray, center: list[float], radii: list[float]) -> np.ndarray:
    """Boolean (n,) — which template points ``xyz`` (3, n) lie inside the ellipsoid."""
    c = np.asarray(center, dtype=float)[:, None]
    r = np.asarray(radii, dtype=float)[:, None]
    return np.sum(((xyz - c) / r) ** 2, axis=0) <= 1.0
