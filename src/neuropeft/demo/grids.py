"""Acquisition grids of the demo scans: axis-aligned LAS affines, like axial scanner images.

Both grids are diagonal with a negative x step (LAS, determinant < 0).  For such an image FSL's
bvec convention needs no x-flip: the bvecs are the gradient directions in the voxel axes, and
world direction = diag(-1, 1, 1) @ bvec.  The matrix size is fixed by the settings (large enough
for the largest rotation and scaling allowed); like a radiographer, each subject's field of view
is centred on that subject's head (T1w: whole head) or brain (DWI: the scalp may be cut).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from neuropeft.demo.anatomy import Anatomy
from neuropeft.demo.pose import Pose
from neuropeft.demo.settings import DemoSettings

#: world direction of each voxel axis (the sign of the affine's diagonal)
AXIS_SIGNS = np.array([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``shape`` (3,) and ``affine`` (4×4, voxel index → subject world mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def world_points(self) -> np.ndarray:
        """World coordinates (3, n) of every voxel centre, in Fortran (NIfTI) order of ``shape``."""
        nx, ny, nz = self.shape
        x, y, z = (self.affine[d, d] * np.arange(n) + self.affine[d, 3] for d, n in enumerate(self.shape))
        return np.stack([np.tile(x, ny * nz), np.tile(np.repeat(y, nx), nz), np.repeat(z, nx * ny)])


def t1w_grid(settings: DemoSettings, anatomy: Anatomy, pose: Pose) -> Grid:
    """The T1w grid at ``t1w_voxel_mm``, holding the whole posed head."""
    return _grid(anatomy.head_points_mm, settings, settings.t1w_voxel_mm, pose)


def dwi_grid(settings: DemoSettings, anatomy: Anatomy, pose: Pose) -> Grid:
    """The DWI grid at ``dwi_voxel_mm``, holding the posed brain."""
    return _grid(anatomy.brain_points_mm, settings, settings.dwi_voxel_mm, pose)


def _grid(points: np.ndarray, settings: DemoSettings, voxel: float, pose: Pose) -> Grid:
    centre = (points.min(axis=1) + points.max(axis=1)) / 2
    half = _largest_half_extent(points - centre[:, None], settings) + settings.deformation_mm + 2 * voxel
    shape = tuple(int(np.ceil(2 * h / voxel)) for h in half)
    subject_centre = pose.subject_from_template[:3, :3] @ centre + pose.subject_from_template[:3, 3]
    affine = np.eye(4)
    affine[:3, :3] = np.diag(AXIS_SIGNS * voxel)
    affine[:3, 3] = np.round(subject_centre - AXIS_SIGNS * voxel * (np.array(shape) - 1) / 2, 3)
    return Grid(shape=shape, affine=affine)  # type: ignore[arg-type]


def _largest_half_extent(points: np.ndarray, settings: DemoSettings) -> np.ndarray:
    """Half extent per axis of the centred ``points`` under the extreme rotations and scalings allowed."""
    limit, scale = settings.max_rotation_deg, 1 + settings.max_scaling
    half = np.zeros(3)
    for angles in itertools.product((-limit, 0.0, limit), repeat=3):
        pose = Pose(np.array(angles), np.zeros(3), np.full(3, scale), np.zeros((1, 3)), np.zeros(1), np.zeros((1, 3)))
        moved = pose.subject_from_template[:3, :3] @ points
        half = np.maximum(half, np.abs(moved).max(axis=1))
    return half
