"""``neuropeft fit-tensor``: diffusion tensor fit (dipy) in native space inside the brain mask.

Volumes with b above ``max_bval`` are dropped (the tensor model holds at low b). When no
diffusion-weighted volume is left but the scan has a shell above ``max_bval`` (e.g. a single-shell
b=2000 acquisition), the lowest such shell (b within ``SHELL_TOLERANCE`` of its smallest b) is
fitted instead and a warning is printed and recorded in every sidecar (``warnings``).

Writes FA, MD, AD, RD (.nii.gz, float32, NaN -> 0, FA clipped to [0, 1]; diffusivities in
mm^2/s when b-values are in s/mm^2) and colour FA (X, Y, Z, 3:
FA times the absolute principal eigenvector in RAS world axes, red = left-right, green =
anterior-posterior, blue = inferior-superior; for QC), each with a JSON sidecar.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.bvecs import bvecs_to_world, read_bvals_bvecs, reorient_dwi_to_ras
from neuropeft.preproc.imageio import load_image, save_image

FIT_METHODS = ("WLS", "OLS", "NLLS", "RESTORE")
STEP = "fit-tensor"
#: b-values (s/mm^2) this close to a shell's smallest b-value belong to that shell
SHELL_TOLERANCE = 100.0


@dataclasses.dataclass
class TensorSettings:
    """Settings of ``fit-tensor`` (config section ``tensor``)."""

    #: dipy tensor fit method: WLS (weighted least squares), OLS, NLLS (non-linear) or RESTORE (robust to outliers)
    fit_method: str = "WLS"
    #: volumes with b above this (s/mm^2) are dropped before fitting (the tensor model holds at low b); with no
    #: diffusion-weighted volume left, the lowest shell above it is fitted with a warning
    max_bval: float = 1500.0
    #: volumes with b at or below this (s/mm^2) count as b=0
    b0_threshold: float = 50.0
    #: noise standard deviation for RESTORE; 0 = estimate it from the b=0 volumes (dipy estimate_sigma)
    sigma: float = 0.0
    #: receiver coils for the noise estimate's Rician correction (dipy estimate_sigma N; 0 = Gaussian noise)
    noise_coils: int = 1
    #: reorient the DWI (and mask) to the closest RAS voxel order first, rotating the bvecs with it
    reorient_to_ras: bool = False

    def __post_init__(self) -> None:
        look_up_option(self.fit_method, FIT_METHODS, "tensor fit_method")
        if self.max_bval <= self.b0_threshold:
            raise NeuropeftError(f"tensor max_bval ({self.max_bval}) must exceed b0_threshold ({self.b0_threshold})")


@dataclasses.dataclass
class TensorMaps:
    """Scalar maps (float32, NaN-free) and the principal eigenvector in the bvec frame."""

    fa: np.ndarray
    md: np.ndarray
    ad: np.ndarray
    rd: np.ndarray
    evec: np.ndarray
    kept_volumes: int
    sigma: float | None
    warnings: list[str] = dataclasses.field(default_factory=list)


def select_volumes(bvals: np.ndarray, settings: TensorSettings, source: str) -> tuple[np.ndarray, list[str]]:
    """The volumes kept for fitting (b <= ``max_bval``, else the lowest shell above it) and any warning.

    Needs a b=0 volume and 6+ diffusion directions.
    """
    b0 = bvals <= settings.b0_threshold
    keep = bvals <= settings.max_bval
    warnings = []
    weighted = bvals[~b0]
    if weighted.size and not np.any(keep & ~b0):
        shell = b0 | ((bvals > settings.b0_threshold) & (bvals <= weighted.min() + SHELL_TOLERANCE))
        keep = shell
        warnings.append(
            f"no diffusion-weighted volume with b <= {settings.max_bval:g}; fitted the lowest shell "
            f"(b={weighted.min():g}, {int(np.sum(shell & ~b0))} volumes): FA/MD are biased at high b"
        )
    n_b0, n_dw = int(np.sum(keep & b0)), int(np.sum(keep & ~b0))
    if n_b0 == 0 or n_dw < 6:
        raise NeuropeftError(
            f"{source}: {n_b0} b=0 and {n_dw} diffusion-weighted volume(s) with b <= {settings.max_bval:g}; "
            "the tensor needs a b=0 volume and at least 6 directions (raise tensor.max_bval?)"
        )
    return keep, warnings


def estimate_noise_sigma(data: np.ndarray, b0: np.ndarray, coils: int) -> float:
    """Noise standard deviation: median over the b=0 volumes of dipy's background estimate."""
    from dipy.denoise.noise_estimate import estimate_sigma

    return float(np.median(estimate_sigma(data[..., b0], N=coils)))


def fit_tensor(
    data: np.ndarray,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    mask: np.ndarray,
    settings: TensorSettings,
    source: str = "DWI",
) -> TensorMaps:
    """Fit the tensor to ``data`` (X, Y, Z, N) inside ``mask``; voxels outside the mask are 0."""
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    keep, warnings = select_volumes(bvals, settings, source)
    data = data[..., keep]
    gtab = gradient_table(bvals[keep], bvecs=bvecs[keep], b0_threshold=settings.b0_threshold)
    sigma = None
    options: dict[str, float] = {}
    if settings.fit_method == "RESTORE":
        sigma = settings.sigma or estimate_noise_sigma(data, gtab.b0s_mask, settings.noise_coils)
        options["sigma"] = sigma
    fit = TensorModel(gtab, fit_method=settings.fit_method, **options).fit(data, mask=mask.astype(bool))

    def clean(array: np.ndarray) -> np.ndarray:
        return np.nan_to_num(np.asarray(array, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)

    return TensorMaps(
        fa=np.clip(clean(fit.fa), 0.0, 1.0),
        md=clean(fit.md),
        ad=clean(fit.ad),
        rd=clean(fit.rd),
        evec=clean(fit.evecs[..., :, 0]),
        kept_volumes=int(keep.sum()),
        sigma=sigma,
        warnings=warnings,
    )


def color_fa(maps: TensorMaps, affine: np.ndarray) -> np.ndarray:
    """FA-weighted absolute principal direction in RAS world axes, shape (X, Y, Z, 3), in [0, 1]."""
    world = np.abs(bvecs_to_world(maps.evec.reshape(-1, 3), affine)).reshape(maps.evec.shape)
    return np.clip(maps.fa[..., None] * world, 0.0, 1.0).astype(np.float32)


def run(
    dwi_path: Path,
    bval_path: Path,
    bvec_path: Path,
    mask_path: Path,
    outputs: dict[str, Path],
    settings: TensorSettings,
) -> None:
    """Load the inputs, fit, and write each map (``outputs``: FA, MD, AD, RD, colorFA -> path) with its sidecar."""
    dwi = load_image(dwi_path, "DWI", ndim=4)
    mask_img = load_image(mask_path, "brain mask", ndim=3)
    bvals, bvecs = read_bvals_bvecs(bval_path, bvec_path, dwi.shape[3])
    if mask_img.shape != dwi.shape[:3] or not np.allclose(mask_img.affine, dwi.affine, atol=1e-3):
        raise NeuropeftError(
            f"{mask_path}: the brain mask grid {mask_img.shape} differs from the DWI {dwi.shape[:3]}; pass the mask made on the DWI grid"
        )
    if settings.reorient_to_ras:
        dwi, bvecs = reorient_dwi_to_ras(dwi, bvecs)
        mask_img = nib.as_closest_canonical(mask_img)
    mask = np.asarray(mask_img.dataobj) > 0
    if not mask.any():
        raise NeuropeftError(f"{mask_path}: the brain mask is empty; check the skull-stripping output")
    maps = fit_tensor(np.asarray(dwi.dataobj, dtype=np.float32), bvals, bvecs, mask, settings, str(dwi_path))
    for warning in maps.warnings:
        print(f"neuropeft {STEP}: warning: {dwi_path}: {warning}", file=sys.stderr)
    extra = {
        "inputs": {"dwi": str(dwi_path), "bval": str(bval_path), "bvec": str(bvec_path), "mask": str(mask_path)},
        "volumes_fitted": maps.kept_volumes,
        "volumes_total": int(dwi.shape[3]),
        "restore_sigma": maps.sigma,
        "warnings": maps.warnings,
    }
    arrays = {"FA": maps.fa, "MD": maps.md, "AD": maps.ad, "RD": maps.rd, "colorFA": color_fa(maps, dwi.affine)}
    for name, array in arrays.items():
        img = nib.Nifti1Image(array, dwi.affine)
        img.header.set_xyzt_units("mm", "sec")
        save_image(img, outputs[name], STEP, settings, extra)
