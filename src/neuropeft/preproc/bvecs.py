"""Gradient tables: reading FSL bval/bvec files, their world directions, reorienting DWI to RAS.

FSL convention (FSL FDT user guide, "DTIFIT"/"bvecs"; FSL FAQ "What conventions do the bvecs use?"):
bvecs are unit vectors in the *voxel* axes of the image (not in world/scanner space), and FSL
reads every image in radiological voxel order. When the voxel-to-world matrix (sform/qform) has a
positive determinant (neurological storage, e.g. RAS/LAS-like oblique grids with det > 0), FSL
treats the first voxel axis as flipped, so the x component of a bvec is the *negative* of the
component along voxel axis i. With a negative determinant the bvec components are the voxel-axis
components as they are. The world (RAS mm) direction of a bvec ``g`` is therefore
``R @ (F @ g)`` with ``R`` the affine's 3x3 part divided by the voxel sizes and
``F = diag(-1, 1, 1)`` if ``det(affine) > 0`` else the identity.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

from neuropeft.errors import NeuropeftError


def read_bvals_bvecs(
    bval_path: str | os.PathLike[str], bvec_path: str | os.PathLike[str], n_volumes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read FSL-format b-values (N,) and b-vectors (N, 3), checking they match ``n_volumes``."""
    from dipy.io.gradients import read_bvals_bvecs as dipy_read

    try:
        bvals, bvecs = dipy_read(str(bval_path), str(bvec_path))
    except (OSError, ValueError) as error:
        raise NeuropeftError(f"{bvec_path}: cannot read bval/bvec ({error}); pass FSL-format text files") from None
    if bvals.shape[0] != n_volumes or bvecs.shape[0] != n_volumes:
        raise NeuropeftError(
            f"{bval_path}: {bvals.shape[0]} b-values and {bvecs.shape[0]} b-vectors for {n_volumes} DWI volumes; "
            "the bval/bvec files must list one entry per volume"
        )
    return bvals.astype(float), bvecs.astype(float)


def _fsl_flip(affine: np.ndarray) -> np.ndarray:
    """``diag(-1, 1, 1)`` when FSL flips the first voxel axis (det > 0), else the identity."""
    return np.diag([-1.0, 1.0, 1.0]) if np.linalg.det(affine[:3, :3]) > 0 else np.eye(3)


def bvecs_to_voxel(bvecs: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """FSL bvecs (N, 3) as components along the image's voxel axes (undoing FSL's x-flip)."""
    return np.asarray(bvecs, dtype=float) @ _fsl_flip(affine)


def voxel_to_bvecs(vectors: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Voxel-axis vectors (N, 3) as FSL bvecs for an image with ``affine`` (the inverse of :func:`bvecs_to_voxel`)."""
    return np.asarray(vectors, dtype=float) @ _fsl_flip(affine)


def bvecs_to_world(bvecs: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """FSL bvecs (or vectors fitted in the bvec frame, shape (..., 3)) as RAS world unit directions."""
    matrix = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    return bvecs_to_voxel(bvecs, affine) @ matrix.T


def reorient_dwi_to_ras(img: nib.Nifti1Image, bvecs: np.ndarray) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Reorient a 3D/4D image to the closest RAS voxel order and rotate its FSL ``bvecs`` (N, 3) with it.

    The data are permuted/flipped by :func:`nibabel.as_closest_canonical` (the oblique residual
    stays in the affine); the same permutation and flips are applied to the voxel-axis components
    of the bvecs, and the FSL x-flip is undone for the input affine and re-applied for the output
    one (see the module docstring), so every gradient keeps its world direction.
    """
    canonical = nib.as_closest_canonical(img)
    ornt = ornt_transform(io_orientation(img.affine), axcodes2ornt("RAS"))
    voxel = bvecs_to_voxel(bvecs, img.affine)
    rotated = np.zeros_like(voxel)
    for axis, (new_axis, flip) in enumerate(ornt):
        rotated[:, int(new_axis)] = flip * voxel[:, axis]
    return canonical, voxel_to_bvecs(rotated, canonical.affine)
