"""Template-space anatomy of the demo head: the MNI152 2009a brain plus a synthetic skull and scalp.

Everything is on nilearn's 1 mm MNI152 2009a grid (RAS, mm).  The head layers cost about 2 s (a
distance transform of the whole grid), so they are computed once and kept, with the template's
maps, as uncompressed arrays in the template cache folder; each demo job memory-maps them.
The head is built by growing the (smoothed) brain mask: up to ``SKULL_MM`` outside it lies skull
(no signal), then ``SCALP_MM`` of scalp (bright on T1w, faint on b=0), then air.  Pockets inside
the smoothed mask but outside the brain mask are extra-axial CSF.
"""

from __future__ import annotations

import functools
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


#: the maps of :class:`Anatomy` kept in the cache (``affine`` beside them); masks as uint8
_LAYERS = {
    "t1w": np.float32,
    "brain": np.uint8,
    "wm": np.float32,
    "gm": np.float32,
    "csf_extra": np.uint8,
    "scalp": np.uint8,
}


@functools.lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    """The whole-head template anatomy (cached per process, and on disk as memory-mapped arrays)."""
    layers = _cached_layers()
    affine = np.asarray(layers.pop("affine"), dtype=float)
    maps = {name: np.asarray(array, dtype=np.float32) for name, array in layers.items()}

    def sparse_points(mask: np.ndarray) -> np.ndarray:
        ijk = np.argwhere(mask[::4, ::4, ::4]).T * 4
        return affine[:3, :3] @ ijk + affine[:3, 3:]

    return Anatomy(
        affine=affine,
        **maps,
        head_points_mm=sparse_points(maps["t1w"] > 0),
        brain_points_mm=sparse_points(maps["brain"] > 0),
    )


def _cached_layers() -> dict[str, np.ndarray]:
    """The anatomy's maps and affine as uncompressed ``.npy`` files in the cache folder, memory-mapped:
    a demo job reads them in a few hundredths of a second instead of ~1.4 s from the gzip templates
    (computed and stored on a miss)."""
    folder = cache_dir() / f"demo-anatomy_nilearn-{version('nilearn')}_skull-{SKULL_MM}_scalp-{SCALP_MM}"
    paths = {name: folder / f"{name}.npy" for name in (*_LAYERS, "affine")}
    if not all(path.exists() for path in paths.values()):
        for name, array in _template_layers().items():
            with atomic_path(paths[name]) as tmp:
                np.save(tmp, array)
    return {name: np.load(path, mmap_mode="r") for name, path in paths.items()}


def _template_layers() -> dict[str, np.ndarray]:
    """The anatomy's maps (:data:`_LAYERS` dtypes) and affine computed from nilearn's 1 mm templates."""
    t1_img = template_t1w(1)
    brain = np.asarray(template_brain_mask(1).dataobj, dtype=np.float32)
    t1w, csf_extra, scalp = head_layers(np.asarray(t1_img.dataobj, dtype=np.float32), brain)
    maps = {
        "t1w": t1w,
        "brain": brain,
        "wm": np.asarray(template_tissue("wm", 1).dataobj),
        "gm": np.asarray(template_tissue("gm", 1).dataobj),
        "csf_extra": csf_extra,
        "scalp": scalp,
    }
    return {name: maps[name].astype(dtype) for name, dtype in _LAYERS.items()} | {"affine": np.asarray(t1_img.affine)}


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
