"""Registration of a subject image to the MNI152 2009a template (antspyx), and its accuracy.

``neuropeft register --moving IMG --modality t1w|dwi --out-transforms P_transforms.json --out-registered R``
registers the T1w brain
(``skullstrip-t1w --out-brain``) or the DWI mean b=0 brain (``skullstrip-dwi --out-meanb0``) to
``template_t1w(voxel_mm)`` with mutual information (the contrasts differ for the DWI) and writes:

* ``P_fwd_0GenericAffine.mat`` (+ ``P_fwd_1Warp.nii.gz`` and ``P_inv_1InverseWarp.nii.gz`` for SyN);
* ``R`` (e.g. ``P_space-MNI152NLin2009aSym_{T1w|b0}.nii.gz``): the moving image resampled onto the template
  grid at the working resolution (+ its ``.json`` sidecar with the similarity figures);
* ``P_transforms.json`` (written last), the contract read by the resampling step; the transform
  files sit beside it, named after it (``P`` is its name without ``_transforms.json``)::

    {
      "template": "MNI152NLin2009aSym",   "voxel_mm": 2,   "transform": "Affine",
      "modality": "t1w",  "moving": "<path of the moving image as given>",
      "forward": {"transformlist": ["P_fwd_0GenericAffine.mat"], "whichtoinvert": [false]},
      "inverse": {"transformlist": ["P_fwd_0GenericAffine.mat"], "whichtoinvert": [true]},
      "similarity": {"nmi": 1.25, "correlation": 0.91}
    }

  File names are relative to the JSON's folder (:func:`load_transforms` makes them absolute).
  ``forward`` is passed as ``ants.apply_transforms(fixed=<template-space reference>,
  moving=<subject image>, transformlist=..., whichtoinvert=...)`` to bring a subject image into
  template space; the same list given to ``ants.apply_transforms_to_points`` maps template points
  to subject points (ANTs LPS mm). ``inverse`` is passed as ``ants.apply_transforms(fixed=<subject
  image>, moving=<template-space image>, ...)`` to bring a template-space image (e.g. a mask) to
  the subject. Always pass ``whichtoinvert``: for an affine-only inverse antspyx would otherwise
  NOT invert the matrix. For SyN the lists are ``[P_fwd_1Warp.nii.gz, P_fwd_0GenericAffine.mat]``
  (``[false, false]``) and ``[P_fwd_0GenericAffine.mat, P_inv_1InverseWarp.nii.gz]`` (``[true, false]``).

``similarity.nmi`` is the normalised mutual information (H(a)+H(b))/H(a,b) (1 = independent,
2 = identical) and ``similarity.correlation`` the Pearson correlation, both inside the template
brain mask; the correlation is negative-ish for the b=0 (inverted contrast), so QC should use nmi.

The moving image is reoriented to the closest canonical (RAS) voxel order first (the transforms
live in world space, so they still apply to the image as stored). With ``init: search`` (default)
the registration starts from ``ants.affine_initializer``: a search over rotations (every
``init_search_step_deg`` within +-``init_search_fraction`` x 180 deg about each axis, each candidate
refined briefly) of the brain images resampled to ``init_voxel_mm``, which costs 2-5 s. On the
10 real IXI heads of ``shared/data/real/ixi10`` (deepbet brains) the reference brain masks carried
by the forward transform overlap the template brain mask with Dice 0.94-0.95 either way; tilted
in the scanner by 30 deg (pitch), -25 deg (yaw) or 35 deg (roll), 38 of those 40 heads still reach
0.936-0.953 (two at 35 deg roll, outside the +-18 deg searched, 0.89), where the centre-of-mass
start (``init: center``, ANTs' default) leaves a 30 deg pitch at 0.84.

The default transform is ``Affine``, chosen by measurement: on the tiny demo (6 subjects, affine
pose + up to 2 mm smooth deformation) it recovers the pose with a mean error of 0.4-0.9 mm for the
T1w brain and 0.9-1.6 mm for the b=0 brain (one working voxel = 2 mm) in 2-4 s; on an MNI-derived
test head ``SyN`` was 3x slower and 1.4-1.6 mm from the affine pose (its warp also absorbs anatomy).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.atomic import atomic_path, write_json
from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.paths import TEMPLATE_SPACE
from neuropeft.preproc.ants_import import load_ants
from neuropeft.preproc.imageio import load_image, ras_to_lps, require_not_constant, save_image, to_ants
from neuropeft.preproc.template import template_brain_mask, template_t1w

TRANSFORMS = ("Rigid", "Affine", "SyN")
INITIALISERS = ("search", "center")
METRICS = ("mattes", "GC", "meansquares")
#: contrast of the moving image: a T1w brain or a DWI mean b=0 brain
MODALITIES = ("t1w", "dwi")


@dataclasses.dataclass
class RegistrationSettings:
    """Settings of ``neuropeft register`` (config section ``registration``)."""

    transform: str = (
        "Affine"  #: ANTs transform model: Rigid, Affine (rigid + scaling/shear) or SyN (affine + diffeomorphic warp)
    )
    metric: str = "mattes"  #: similarity metric of the linear stages: mattes (mutual information), GC (gradient correlation) or meansquares
    voxel_mm: int = 2  #: working resolution in mm: the template grid the metric is evaluated on and the registered image is written on
    iterations: list[int] = dataclasses.field(
        default_factory=lambda: [1000, 500, 250, 0]
    )  #: linear-stage iterations per level, coarse to fine
    shrink_factors: list[int] = dataclasses.field(
        default_factory=lambda: [6, 4, 2, 1]
    )  #: downsampling factor per level (same length as iterations)
    smoothing_sigmas: list[float] = dataclasses.field(
        default_factory=lambda: [3, 2, 1, 0]
    )  #: Gaussian smoothing in voxels per level (same length as iterations)
    syn_iterations: list[int] = dataclasses.field(
        default_factory=lambda: [40, 20, 0]
    )  #: SyN-stage iterations per level (used only by transform SyN)
    random_seed: int = 42  #: seed of ANTs' random metric sampling, for reproducible transforms
    init: str = "search"  #: starting transform: search (rotation search by ants.affine_initializer) or center (centres of mass aligned)
    init_search_step_deg: float = 15.0  #: search: angle step in degrees of the rotation search
    init_search_fraction: float = (
        0.1  #: search: rotations searched within +- this fraction of 180 degrees about each axis
    )
    init_voxel_mm: float = 6.0  #: search: voxel size in mm the images are resampled to for the search

    def validate(self) -> None:
        """Refuse unknown transform/metric names and level lists of different lengths."""
        look_up_option(self.transform, TRANSFORMS, "registration transform")
        look_up_option(self.metric, METRICS, "registration metric")
        if not len(self.iterations) == len(self.shrink_factors) == len(self.smoothing_sigmas):
            raise NeuropeftError(
                "registration iterations, shrink_factors and smoothing_sigmas need one entry per level (same length)"
            )
        if self.voxel_mm <= 0:
            raise NeuropeftError(f"registration voxel_mm must be positive, got {self.voxel_mm}")
        look_up_option(self.init, INITIALISERS, "registration init")


def run_registration(
    fixed: Any,
    moving: Any,
    settings: RegistrationSettings,
    outprefix: str,
    fixed_mask: Any = None,
    initial_transform: list[str] | None = None,
) -> dict[str, Any]:
    """``ants.registration`` of ``moving`` to ``fixed`` (ANTs images) with ``settings``; returns ANTs' result dict."""
    ants = load_ants()

    settings.validate()
    previous_seed = ants.config._random_seed
    ants.config._random_seed = settings.random_seed  # antspyx reads it to pass --random-seed
    try:
        return ants.registration(
            fixed=fixed,
            moving=moving,
            type_of_transform=settings.transform,
            mask=fixed_mask,
            initial_transform=initial_transform,
            outprefix=outprefix,
            aff_metric=settings.metric,
            aff_iterations=tuple(settings.iterations),
            aff_shrink_factors=tuple(settings.shrink_factors),
            aff_smoothing_sigmas=tuple(settings.smoothing_sigmas),
            reg_iterations=tuple(settings.syn_iterations),
        )
    finally:
        ants.config._random_seed = previous_seed


def initial_rotation(fixed: Any, moving: Any, settings: RegistrationSettings, path: str) -> list[str] | None:
    """The starting transform of ``settings.init`` (``None``: ANTs' centre-of-mass start), written to ``path``."""
    ants = load_ants()

    if settings.init == "center":
        return None
    spacing = (settings.init_voxel_mm,) * 3
    ants.affine_initializer(
        ants.resample_image(fixed, spacing, False, 0),
        ants.resample_image(moving, spacing, False, 0),
        search_factor=settings.init_search_step_deg,
        radian_fraction=settings.init_search_fraction,
        use_principal_axis=False,
        local_search_iterations=10,
        txfn=path,
    )
    return [path]


def check_affine(matrix_path: str, source: str | os.PathLike[str]) -> None:
    """Raise a one-line error when the estimated affine is degenerate (registration failed)."""
    ants = load_ants()

    params = np.asarray(ants.read_transform(matrix_path).parameters, dtype=float)
    linear = params[:9].reshape(3, 3)
    det = float(np.linalg.det(linear)) if np.all(np.isfinite(params)) else float("nan")
    if not 0.33 < det < 3.0:
        raise NeuropeftError(
            f"{source}: registration to the template failed (affine volume scaling {det:.3g}); check the image is a head/brain scan with correct orientation"
        )


def similarity(a: np.ndarray, b: np.ndarray, mask: np.ndarray, bins: int = 64) -> dict[str, float]:
    """Normalised mutual information and Pearson correlation of ``a`` and ``b`` inside ``mask``."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    joint, _, _ = np.histogram2d(x, y, bins=bins)
    p = joint / joint.sum()

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    nmi = (entropy(p.sum(axis=0)) + entropy(p.sum(axis=1))) / entropy(p.ravel())
    corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
    return {"nmi": round(float(nmi), 4), "correlation": round(corr, 4)}


def register_to_template(
    moving_img: nib.Nifti1Image,
    modality: str,
    settings: RegistrationSettings,
    out_transforms: str | os.PathLike[str],
    out_registered: str | os.PathLike[str],
    source: str,
) -> dict[str, Any]:
    """Register a 3D subject image to the template; write the transforms (beside ``out_transforms``),
    the registered image and the transforms JSON (last); returns the JSON's record."""
    settings.validate()
    look_up_option(modality, MODALITIES, "register modality")
    moving_img = nib.as_closest_canonical(moving_img)
    data = np.asarray(moving_img.dataobj, dtype=np.float32)
    require_not_constant(data, source)
    template = template_t1w(settings.voxel_mm)
    brain = np.asarray(template_brain_mask(settings.voxel_mm).dataobj) > 0
    fixed = to_ants(template, np.where(brain, np.asarray(template.dataobj, dtype=np.float32), 0.0))
    out_transforms = Path(out_transforms)
    prefix = out_transforms.parent / out_transforms.name.removesuffix(".json").removesuffix("_transforms")
    with tempfile.TemporaryDirectory(prefix="neuropeft-reg-") as tmp:
        moving = to_ants(moving_img, data)
        start = initial_rotation(fixed, moving, settings, os.path.join(tmp, "init.mat"))
        result = run_registration(fixed, moving, settings, os.path.join(tmp, "reg_"), initial_transform=start)
        check_affine(next(t for t in result["fwdtransforms"] if t.endswith(".mat")), source)
        warped = result["warpedmovout"].numpy()
        sim = similarity(np.asarray(fixed.numpy()), warped, brain)
        stable = {
            path: _stable_name(prefix, path, forward=path in result["fwdtransforms"])
            for path in {*result["fwdtransforms"], *result["invtransforms"]}
        }
        record = {
            "template": TEMPLATE_SPACE,
            "voxel_mm": settings.voxel_mm,
            "transform": settings.transform,
            "modality": modality,
            "moving": str(source),
            "forward": _transform_entry(result["fwdtransforms"], stable, inverse=False),
            "inverse": _transform_entry(result["invtransforms"], stable, inverse=True),
            "similarity": sim,
        }
        for path, name in stable.items():
            with atomic_path(prefix.parent / name) as out:
                shutil.copyfile(path, out)
    warped_img = nib.Nifti1Image(warped.astype(np.float32), template.affine)
    save_image(
        warped_img,
        out_registered,
        "register",
        settings,
        {"source": str(source), "similarity": sim},
    )
    write_json(out_transforms, record)
    return record


def _stable_name(prefix: Path, ants_path: str, forward: bool) -> str:
    """``P_fwd_0GenericAffine.mat``, ``P_fwd_1Warp.nii.gz`` or ``P_inv_1InverseWarp.nii.gz``."""
    tail = os.path.basename(ants_path).removeprefix("reg_")
    return f"{prefix.name}_{'fwd' if forward or tail.endswith('.mat') else 'inv'}_{tail}"


def _transform_entry(paths: list[str], stable: dict[str, str], inverse: bool) -> dict[str, list]:
    return {
        "transformlist": [stable[p] for p in paths],
        "whichtoinvert": [bool(inverse and p.endswith(".mat")) for p in paths],
    }


def load_transforms(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``P_transforms.json`` with the transform file names made absolute."""
    path = Path(path)
    record = json.loads(path.read_text())
    for key in ("forward", "inverse"):
        record[key]["transformlist"] = [str(path.parent / name) for name in record[key]["transformlist"]]
    return record


def pose_error_mm(
    transform_json: str | os.PathLike[str],
    pose_json: str | os.PathLike[str],
    template_mask: nib.Nifti1Image | str | os.PathLike[str],
) -> float:
    """Mean distance (mm) between recovered and true subject positions of the template-mask voxels.

    The truth ``subject_from_template`` (RAS, 4x4) maps a template world point x to the subject
    point A @ x; the recovered map is the registration's ``forward`` list applied to points.
    """
    ants = load_ants()
    import pandas as pd

    mask_img = template_mask if isinstance(template_mask, nib.Nifti1Image) else nib.load(str(template_mask))
    ijk = np.argwhere(np.asarray(mask_img.dataobj) > 0)
    ras = nib.affines.apply_affine(mask_img.affine, ijk)
    pose = np.asarray(json.loads(Path(pose_json).read_text())["subject_from_template"], dtype=float)
    truth = nib.affines.apply_affine(pose, ras)
    forward = load_transforms(transform_json)["forward"]
    points = pd.DataFrame(ras_to_lps(ras), columns=["x", "y", "z"])
    mapped = ants.apply_transforms_to_points(
        3, points, forward["transformlist"], whichtoinvert=forward["whichtoinvert"]
    )
    recovered = ras_to_lps(mapped[["x", "y", "z"]].to_numpy())
    return float(np.linalg.norm(recovered - truth, axis=1).mean())


def register_file(
    moving: Path, modality: str, settings: RegistrationSettings, out_transforms: Path, out_registered: Path
) -> None:
    """Register the image file to the template; write transforms, registered image and transforms JSON."""
    settings.validate()
    img = load_image(moving, "moving image", ndim=3)
    register_to_template(img, modality, settings, out_transforms, out_registered, str(moving))
