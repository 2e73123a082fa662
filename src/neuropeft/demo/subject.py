"""Synthesise one demo subject: T1w and DWI images plus their ground truth, as arrays.

Each scan voxel's centre is mapped to template world through the inverse pose and the
deformation (:mod:`neuropeft.demo.pose`), and the template maps are read there by trilinear
interpolation.  Fibre directions are defined in template space, rotated by the pose rotation into
the subject's world and expressed in the DWI voxel axes (the frame of the bvecs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from neuropeft.demo import anatomy as anat
from neuropeft.demo import tensors
from neuropeft.demo.bias import bias_field
from neuropeft.demo.design import Site, assignment, site, subject_streams
from neuropeft.demo.grids import AXIS_SIGNS, Grid, dwi_grid, t1w_grid
from neuropeft.demo.outcome import Outcome, draw_outcome
from neuropeft.demo.pose import Pose, random_pose
from neuropeft.demo.settings import DemoSettings

#: T1w image units: template white matter (≈ 0.87) becomes about 1000 at site scale 1
T1W_SCALE = 1000.0 / anat.T1W_WM


@dataclass
class Profile:
    """One subject's demographics and tissue values: cheap, needs no images (``participants.tsv``)."""

    participant_id: str
    diagnosis: int
    age: float
    sex: str
    site: Site
    wm_fa: float  # white-matter compartment FA of this subject outside the effect region
    wm_md: float
    gm_md: float
    outcome: Outcome  # time to event (task survival)

    def record(self, settings: DemoSettings) -> dict[str, Any]:
        """The row of ``truth/labels.tsv``."""
        effect = settings.effect_fa if self.diagnosis == 1 else 0.0
        return {
            "participant_id": self.participant_id,
            "diagnosis": self.diagnosis,
            "age": self.age,
            "sex": self.sex,
            "site": self.site.label,
            "effect_fa": effect,
            "wm_fa": round(self.wm_fa, 6),
            "wm_fa_in_region": round(self.wm_fa - effect, 6),
            "wm_md": round(self.wm_md, 10),
            "gm_md": round(self.gm_md, 10),
            "site_scale": self.site.scale,
            "site_noise": self.site.noise,
            "log_hazard": self.outcome.log_hazard,
            "time": self.outcome.time,
            "event": self.outcome.event,
        }


@dataclass
class Subject(Profile):
    """A profile plus the subject's pose, grids, images (int16) and ground truth (``truth`` name → array)."""

    pose: Pose
    t1w_grid: Grid
    dwi_grid: Grid
    t1w: np.ndarray = field(default_factory=lambda: np.empty(0))
    dwi: np.ndarray = field(default_factory=lambda: np.empty(0))
    truth_t1w: dict[str, np.ndarray] = field(default_factory=dict)
    truth_dwi: dict[str, np.ndarray] = field(default_factory=dict)
    tissue_dseg: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint8))  # T1w grid, TISSUE_CLASSES
    noise_sigma: dict[str, float] = field(default_factory=dict)


#: the classes of the tissue label map (``Subject.tissue_dseg``; 0 is background), as in its BIDS ``dseg.tsv``
TISSUE_CLASSES = {1: "CSF", 2: "GM", 3: "WM"}

#: random streams per subject: demographics, pose, T1w bias, DWI bias, T1w noise, DWI noise
_STREAMS = 6


def subject_profile(settings: DemoSettings, index: int) -> Profile:
    """Profile of subject ``index`` (0-based; sub-{index+1:03d}) from (seed, index) alone."""
    diagnosis, site_index = assignment(settings, index)
    demo_rng = subject_streams(settings, index, _STREAMS)[0]
    age = round(float(demo_rng.uniform(settings.age_min, settings.age_max)), 1)
    sex = str(demo_rng.choice(["F", "M"]))
    fa_offset = float(demo_rng.normal(0.0, settings.fa_subject_sd))
    age_shift = age - (settings.age_min + settings.age_max) / 2
    outcome = draw_outcome(demo_rng, diagnosis, age_shift)  # drawn last: the draws above stay as they were
    return Profile(
        participant_id=f"sub-{index + 1:03d}",
        diagnosis=diagnosis,
        age=age,
        sex=sex,
        site=site(settings, site_index),
        wm_fa=tensors.WM.fa + fa_offset + settings.age_fa_slope * age_shift,
        wm_md=tensors.WM.md + settings.age_md_slope * age_shift,
        gm_md=tensors.GM.md + settings.age_md_slope * age_shift,
        outcome=outcome,
    )


def make_subject(settings: DemoSettings, index: int, bvals: np.ndarray, bvecs: np.ndarray) -> Subject:
    """Make subject ``index`` (0-based; sub-{index+1:03d}) deterministically from (seed, index)."""
    anatomy = anat.load_anatomy()
    profile = subject_profile(settings, index)
    _, pose_rng, bias_t1w_rng, bias_dwi_rng, noise_t1w_rng, noise_dwi_rng = subject_streams(settings, index, _STREAMS)
    pose = random_pose(pose_rng, settings, anatomy.brain_points_mm)
    subject = Subject(
        **vars(profile),
        pose=pose,
        t1w_grid=t1w_grid(settings, anatomy, pose),
        dwi_grid=dwi_grid(settings, anatomy, pose),
    )
    _make_t1w(subject, settings, bias_t1w_rng, noise_t1w_rng)
    _make_dwi(subject, settings, bvals, bvecs, bias_dwi_rng, noise_dwi_rng)
    return subject


def _make_t1w(
    subject: Subject, settings: DemoSettings, bias_rng: np.random.Generator, noise_rng: np.random.Generator
) -> None:
    anatomy, grid = anat.load_anatomy(), subject.t1w_grid
    world = grid.world_points()
    ijk = _template_voxels(subject.pose.template_points(world))
    intensity = _sample(anatomy.t1w, ijk)
    head = intensity > 0
    brain, wm = _sample_within(head, ijk, anatomy.brain, anatomy.wm)
    # grey matter counts only inside the brain, extra-axial CSF only where the brain mask is not whole
    # (the two template masks are disjoint): sampling each there alone keeps the job fast
    (gm,) = _sample_within(brain > 0, ijk, anatomy.gm)
    (csf_extra,) = _sample_within(head & (brain < 1), ijk, anatomy.csf_extra)
    white = brain * wm >= 0.5
    subject.tissue_dseg = tissue_labels(brain, wm, gm, csf_extra, white).reshape(grid.shape, order="F")
    bias = bias_field(bias_rng, world, head, settings.bias_strength)
    scale = subject.site.scale * T1W_SCALE
    sigma = scale * anat.T1W_WM / settings.t1w_snr * subject.site.noise
    subject.t1w = _to_int16(_rician(intensity * bias * scale, sigma, noise_rng, settings.noise)).reshape(
        grid.shape, order="F"
    )
    subject.noise_sigma["T1w"] = float(sigma) if settings.noise else 0.0
    subject.truth_t1w = _volumes(grid, brainmask=brain >= 0.5, wmmask=white, biasfield=bias)


def _make_dwi(
    subject: Subject,
    settings: DemoSettings,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    bias_rng: np.random.Generator,
    noise_rng: np.random.Generator,
) -> None:
    anatomy, grid = anat.load_anatomy(), subject.dwi_grid
    world = grid.world_points()
    template = subject.pose.template_points(world)
    ijk = _template_voxels(template)
    support = _sample(anatomy.t1w, ijk) > 0
    brain, wm, gm, csf_extra, scalp = _sample_within(
        support, ijk, anatomy.brain, anatomy.wm, anatomy.gm, anatomy.csf_extra, anatomy.scalp
    )
    wm = np.clip(wm, 0, 1)
    gm = np.clip(gm, 0, 1 - wm)
    region = anat.in_ellipsoid(template, settings.effect_center_mm, settings.effect_radii_mm)
    wm_fa = np.where(region & (subject.diagnosis == 1), subject.wm_fa - settings.effect_fa, subject.wm_fa)
    s0, perp, spread = tensors.mix(
        [brain * wm, brain * gm, brain * (1 - wm - gm) + csf_extra, scalp],
        [wm_fa, tensors.GM.fa, tensors.CSF.fa, tensors.SCALP.fa],
        [subject.wm_md, subject.gm_md, tensors.CSF.md, tensors.SCALP.md],
        [tensors.WM.s0, tensors.GM.s0, tensors.CSF.s0, tensors.SCALP.s0],
    )
    fa, md = tensors.cylinder_fa_md(perp, spread)
    head = s0 > 0
    direction = AXIS_SIGNS[:, None] * (subject.pose.rotation @ anat.fibre_direction(template[:, head]))
    bias = bias_field(bias_rng, world, head, settings.bias_strength)
    scale = subject.site.scale * tensors.S0_WM
    clean = np.zeros((len(bvals), world.shape[1]), dtype=np.float32)
    clean[:, head] = tensors.dwi_signal(
        scale * bias[head] * s0[head], perp[head], spread[head], direction, bvals, bvecs
    )
    sigma = scale * tensors.WM.s0 / settings.dwi_snr * subject.site.noise
    noisy = _to_int16(_rician(clean, sigma, noise_rng, settings.noise))
    subject.dwi = noisy.T.reshape((*grid.shape, len(bvals)), order="F")
    subject.noise_sigma["dwi"] = float(sigma) if settings.noise else 0.0
    in_brain = brain >= 0.5
    white = brain * wm >= 0.5
    subject.truth_dwi = _volumes(
        grid,
        brainmask=in_brain,
        wmmask=white,
        effectmask=region & white,
        biasfield=bias,
        FA=np.where(in_brain, fa, 0),
        MD=np.where(in_brain, md, 0),
    )


def tissue_labels(
    brain: np.ndarray, wm: np.ndarray, gm: np.ndarray, csf_extra: np.ndarray, white: np.ndarray
) -> np.ndarray:
    """Tissue label map (uint8, :data:`TISSUE_CLASSES`) from the template fractions sampled at each voxel.

    The fractions are those :func:`_make_dwi` mixes: white matter ``brain*wm``, grey matter
    ``brain*gm`` and CSF ``brain*(1-wm-gm) + csf_extra`` (CSF inside the brain mask plus the
    extra-axial pockets), with ``wm`` clipped to 0..1 and ``gm`` to 0..1-wm; they add up to
    ``brain + csf_extra`` (at most 1: the two template masks are disjoint). A voxel is labelled

    - 3 (WM) where ``white`` holds: the ``wmmask`` truth, ``brain*wm >= 0.5``, so WM is the largest
      fraction there;
    - else 2 (GM) where ``brain + csf_extra >= 0.5`` and the grey-matter fraction exceeds the CSF one;
    - else 1 (CSF) where ``brain + csf_extra >= 0.5`` (CSF fraction at least the grey-matter one);
    - else 0 (background: skull, scalp, air, and voxels less than half brain or CSF).

    So the labelled voxels cover the brain mask (``brain >= 0.5``) and the largest class wins,
    except that a voxel whose largest fraction is WM below 0.5 takes the larger of GM and CSF.
    """
    wm = np.clip(wm, 0, 1)
    gm = np.clip(gm, 0, 1 - wm)
    grey, csf = brain * gm, brain * (1 - wm - gm) + csf_extra
    labels = np.where(grey > csf, np.uint8(2), np.uint8(1))
    labels[brain + csf_extra < 0.5] = 0
    labels[white] = 3
    return labels


def _volumes(grid: Grid, **maps: np.ndarray) -> dict[str, np.ndarray]:
    """Flat maps → volumes on ``grid`` (masks as uint8, others float32)."""
    return {
        name: values.astype(np.uint8 if values.dtype == bool else np.float32).reshape(grid.shape, order="F")
        for name, values in maps.items()
    }


def _template_voxels(template_xyz: np.ndarray) -> np.ndarray:
    """Template voxel coordinates (3, n) of template world points (3, n)."""
    inverse = np.linalg.inv(anat.load_anatomy().affine)
    return inverse[:3, :3] @ template_xyz + inverse[:3, 3:]


def _sample(volume: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of a template map at template voxel coordinates (3, n); 0 outside."""
    return ndimage.map_coordinates(volume, ijk, order=1, mode="constant", cval=0.0, prefilter=False)


def _sample_within(support: np.ndarray, ijk: np.ndarray, *volumes: np.ndarray) -> list[np.ndarray]:
    """Sample each map only where ``support`` (n,) holds (the maps are 0 elsewhere)."""
    inside = ijk[:, support]
    out = []
    for volume in volumes:
        values = np.zeros(support.shape, dtype=np.float32)
        values[support] = _sample(volume, inside)
        out.append(values)
    return out


def _rician(clean: np.ndarray, sigma: float, rng: np.random.Generator, enabled: bool) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise (Rician); ``clean`` unchanged if disabled."""
    if not enabled:
        return clean
    noise = rng.standard_normal(clean.shape, dtype=np.float32)
    noise *= np.float32(sigma)
    noise += clean
    imag = rng.standard_normal(clean.shape, dtype=np.float32)
    imag *= np.float32(sigma)
    return np.hypot(noise, imag, out=noise)


def _to_int16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, np.iinfo(np.int16).max).astype(np.int16)
