"""``neuropeft resample``: native-space maps -> the model grid, normalised, as one multi-channel volume.

The model grid is the template grid at ``voxel_mm`` (any positive size: whole millimetres use
nilearn's template at that resolution, others, e.g. SAM-Med3D's 1.5 mm, the 1 mm template's axes
scaled) cropped/padded symmetrically to ``shape`` around the centre of the template brain mask's
bounding box (:func:`model_grid`); each map is
warped onto it in one interpolation with ``ants.apply_transforms`` and the registration's forward
transform list. Channel normalisations (``normalise``, one per ``--image``, in order):

* ``fa``: as is, clipped to [0, 1];
* ``md``: divided by ``md_scale`` (default 3e-3 mm^2/s, free water at 37 C, so CSF ~ 1, tissue
  ~ 0.25), negatives clipped to 0;
* ``zscore``: (x - mean) / sd over the brain (T1w), 0 outside the brain;
* ``none``: unchanged.

The brain is the subject's ``--mask`` warped with nearest-neighbour interpolation (voxels outside
it are set to 0 in every channel), or the template brain mask when no mask is given.
The output is a 4D float32 NIfTI, channels last, with a sidecar naming the channels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.choices import look_up_option, look_up_options
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.ants_import import load_ants
from neuropeft.preproc.imageio import from_ants, load_image, save_image, to_ants
from neuropeft.preproc.template import template_brain_mask

NORMALISATIONS = ("fa", "md", "zscore", "none")
#: ANTs interpolators the maps may be warped with (``ants.apply_transforms(interpolator=...)``)
INTERPOLATORS = ("linear", "nearestNeighbor", "bSpline", "lanczosWindowedSinc", "gaussian")
STEP = "resample"


def _default_shape() -> list[int]:
    return [96, 96, 96]


def _default_normalise() -> list[str]:
    return ["fa", "md"]


@dataclasses.dataclass
class ResampleSettings:
    """Settings of ``resample`` (config section ``resample``)."""

    #: isotropic voxel size of the model grid in mm (e.g. 2, or SAM-Med3D's 1.5)
    voxel_mm: float = 2
    #: model input shape (X, Y, Z); the template grid is cropped/padded symmetrically around its brain's centre
    shape: list[int] = dataclasses.field(default_factory=_default_shape)
    #: ANTs interpolator for the maps (linear, bSpline, gaussian, lanczosWindowedSinc, nearestNeighbor)
    interpolation: str = "linear"
    #: per-channel normalisation in --image order: fa (clip to [0,1]), md (divide by md_scale), zscore (inside the brain), none
    normalise: list[str] = dataclasses.field(default_factory=_default_normalise)
    #: MD is divided by this (mm^2/s); 3e-3 = free water at 37 C, so CSF ~ 1
    md_scale: float = 3e-3

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise NeuropeftError(f"resample shape {self.shape} must be three positive integers, e.g. [96, 96, 96]")
        check_normalisations(self.normalise)
        look_up_option(self.interpolation, INTERPOLATORS, "resample interpolation")
        check_voxel_mm(self.voxel_mm)
        if self.md_scale <= 0:
            raise NeuropeftError("resample md_scale must be positive")


def check_voxel_mm(voxel_mm: float) -> None:
    """Refuse a voxel size that is not a positive number of millimetres."""
    if isinstance(voxel_mm, bool) or not isinstance(voxel_mm, (int, float)) or not voxel_mm > 0:
        raise NeuropeftError(f"voxel_mm {voxel_mm!r} must be a positive number of mm, e.g. 2 or 1.5")


def template_resolution(voxel_mm: float) -> int:
    """The whole-mm template a grid at ``voxel_mm`` is built from: ``voxel_mm`` itself when whole
    (nilearn resamples the template to it), else the 1 mm template."""
    return int(voxel_mm) if float(voxel_mm).is_integer() else 1


def check_normalisations(names: list[str]) -> None:
    """Refuse unknown normalisation names with a one-line error."""
    look_up_options(names, NORMALISATIONS, "normalisation")


def model_grid(voxel_mm: float, shape: list[int] | tuple[int, ...]) -> nib.Nifti1Image:
    """An empty image (uint8 zeros) on the model grid: the template grid at ``voxel_mm`` shifted to ``shape``.

    The crop/pad is symmetric around the centre of the template brain mask's bounding box, so
    the grid axes are the template's and only the origin moves (to a whole template voxel). A
    voxel size that is not a whole number of mm scales the 1 mm template's axes.
    """
    resolution = template_resolution(voxel_mm)
    mask = template_brain_mask(resolution)
    inside = np.argwhere(np.asarray(mask.dataobj) > 0)
    centre = (inside.min(axis=0) + inside.max(axis=0)) / 2.0
    scale = float(voxel_mm) / resolution
    grid_to_template = np.diag([scale, scale, scale, 1.0])
    grid_to_template[:3, 3] = np.round(centre - scale * (np.asarray(shape) - 1) / 2.0)
    return nib.Nifti1Image(np.zeros(tuple(int(s) for s in shape), np.uint8), mask.affine @ grid_to_template)


def resample_to_grid(img: nib.Nifti1Image, grid: nib.Nifti1Image, interpolation: str) -> np.ndarray:
    """``img`` resampled onto ``grid`` in world coordinates with nilearn (``interpolation``:
    continuous, linear or nearest); 0 outside the image's field of view. An image already on the
    grid is returned as it is (and nilearn, slow to import, is not loaded)."""
    if img.shape[:3] == grid.shape[:3] and np.allclose(img.affine, grid.affine, atol=1e-5):
        return np.asarray(img.dataobj, dtype=np.float32)
    from nilearn.image import resample_to_img

    out = resample_to_img(img, grid, interpolation=interpolation, force_resample=True, copy_header=True, fill_value=0.0)
    return np.asarray(out.dataobj, dtype=np.float32)


def normalise_channel(data: np.ndarray, method: str, brain: np.ndarray, md_scale: float) -> np.ndarray:
    """Apply one channel normalisation (see the module docstring); ``brain`` is a boolean mask."""
    if method == "fa":
        return np.clip(data, 0.0, 1.0)
    if method == "md":
        return np.clip(data / md_scale, 0.0, None)
    if method == "zscore":
        values = data[brain]
        sd = float(values.std()) if values.size else 0.0
        if sd == 0.0:
            raise NeuropeftError(
                "cannot z-score a channel that is constant or empty inside the brain; check the image and mask"
            )
        return np.where(brain, (data - values.mean()) / sd, 0.0).astype(np.float32)
    return data


def read_transforms(path: Path) -> tuple[list[str], list[bool]]:
    """The registration's forward transform list and ``whichtoinvert`` (template -> subject points)."""
    from neuropeft.preproc.registration import load_transforms

    try:
        forward = load_transforms(path)["forward"]
        transforms, invert = [str(p) for p in forward["transformlist"]], [bool(i) for i in forward["whichtoinvert"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NeuropeftError(
            f"{path}: cannot read the forward transforms ({error!r}); pass the P_transforms.json written by `neuropeft register`"
        ) from None
    missing = [p for p in transforms if not Path(p).is_file()]
    if missing or not transforms:
        raise NeuropeftError(f"{path}: transform file(s) {missing or 'none listed'} missing; re-run the registration")
    return transforms, invert


def warp(
    img: nib.Nifti1Image, grid: nib.Nifti1Image, transforms: tuple[list[str], list[bool]], interpolation: str
) -> np.ndarray:
    """``img`` warped onto ``grid`` with ANTs and the forward ``transforms`` (list, whichtoinvert)."""
    ants = load_ants()

    moved = ants.apply_transforms(
        fixed=to_ants(grid),
        moving=to_ants(img),
        transformlist=transforms[0],
        whichtoinvert=transforms[1],
        interpolator=interpolation,
    )
    return np.asarray(from_ants(moved).dataobj, dtype=np.float32)


def run(images: list[Path], transforms_json: Path, out: Path, mask: Path | None, settings: ResampleSettings) -> None:
    """Warp, normalise and stack the channel ``images`` into the model-ready volume ``out``."""
    if len(images) != len(settings.normalise):
        raise NeuropeftError(
            f"{len(images)} --image(s) but {len(settings.normalise)} normalisation(s) {settings.normalise}; "
            "set resample.normalise to one entry per image, in order"
        )
    transforms = read_transforms(transforms_json)
    grid = model_grid(settings.voxel_mm, settings.shape)
    if mask is not None:
        brain = warp(load_image(mask, "brain mask", ndim=3), grid, transforms, "nearestNeighbor") > 0.5
    else:
        brain = resample_to_grid(template_brain_mask(template_resolution(settings.voxel_mm)), grid, "nearest") > 0.5
    channels = []
    for path, method in zip(images, settings.normalise, strict=False):
        data = warp(load_image(path, "map", ndim=3), grid, transforms, settings.interpolation)
        if mask is not None:
            data = np.where(brain, data, 0.0)
        channels.append(normalise_channel(data, method, brain, settings.md_scale).astype(np.float32))
    volume = nib.Nifti1Image(np.stack(channels, axis=-1), grid.affine)
    volume.header.set_xyzt_units("mm", "sec")
    extra = {
        "inputs": {
            "images": [str(p) for p in images],
            "transforms": str(transforms_json),
            "mask": str(mask) if mask else None,
        },
        "channels": [f"{Path(p).name}:{m}" for p, m in zip(images, settings.normalise, strict=False)],
        "brain_voxels": int(brain.sum()),
    }
    save_image(volume, out, STEP, settings, extra)
