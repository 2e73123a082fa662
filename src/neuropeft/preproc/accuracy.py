"""Accuracy of skull stripping and registration against reference brain masks (tests, benchmarks).

* :func:`mask_dice`: Dice of a brain mask with a reference mask on the same grid;
* :func:`registration_dice`: a reference brain mask carried to template space by a registration's
  own forward transform (``P_transforms.json`` of ``neuropeft register``), against the template's
  brain mask on the template grid: 1 when the subject's brain lands exactly on the template brain.
"""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

from neuropeft.preproc.ants_import import load_ants
from neuropeft.preproc.imageio import to_ants
from neuropeft.preproc.registration import load_transforms
from neuropeft.preproc.template import template_brain_mask

PathLike = str | os.PathLike[str]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean arrays of one shape."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int(np.logical_and(a, b).sum()) / total if total else 1.0


def mask_dice(mask: PathLike, reference: PathLike) -> float:
    """Dice of two mask files (> 0) on the same grid."""
    return dice(np.asarray(nib.load(mask).dataobj) > 0, np.asarray(nib.load(reference).dataobj) > 0)


def registration_dice(reference_mask: PathLike, transforms_json: PathLike) -> float:
    """Dice of ``reference_mask`` warped to template space (forward transform) with the template brain mask."""
    ants = load_ants()

    record = load_transforms(transforms_json)
    template = template_brain_mask(int(record["voxel_mm"]))
    reference = nib.load(reference_mask)
    moving = to_ants(reference, (np.asarray(reference.dataobj) > 0).astype(np.float32))
    warped = ants.apply_transforms(
        fixed=to_ants(template),
        moving=moving,
        transformlist=record["forward"]["transformlist"],
        whichtoinvert=record["forward"]["whichtoinvert"],
        interpolator="linear",
    ).numpy()
    return dice(warped >= 0.5, np.asarray(template.dataobj) > 0)
