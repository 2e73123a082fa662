"""Settings of the built-in demo cohort (the ``demo`` config section)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuropeft.demo.tensors import WM
from neuropeft.errors import NeuropeftError


@dataclass(frozen=True)
class DemoSettings:
    """How the synthetic demo cohort is made; every field has the config default.

    Attributes:
        n_subjects: number of subjects (sub-001 ...); an even number keeps the labels balanced.
        n_sites: number of scanner sites, each with its own intensity scale and noise level.
        seed: random seed; the same seed gives identical images, each subject seeded from (seed, index).
        t1w_voxel_mm: isotropic voxel size of the T1w images (mm).
        dwi_voxel_mm: isotropic voxel size of the DWI images (mm).
        n_b0: number of b=0 volumes in each DWI series.
        n_directions: number of diffusion-weighted directions (at least 6; spread over a hemisphere).
        bvalue: b-value of the diffusion-weighted volumes (s/mm²).
        dwi_snr: b=0 signal-to-noise ratio in white matter at a site with noise factor 1.
        t1w_snr: T1w signal-to-noise ratio in white matter at a site with noise factor 1.
        noise: add Rician noise (false gives noise-free images, for tests).
        bias_strength: multiplicative bias field spans 1/(1+s) .. 1+s over the head (0 disables it).
        site_scale_range: site intensity scales are drawn log-uniformly in 1/(1+r) .. 1+r.
        site_noise_range: site noise factors are drawn log-uniformly in 1/(1+r) .. 1+r.
        max_rotation_deg: head rotation about each axis is uniform in ±this (degrees).
        max_translation_mm: head translation along each axis is uniform in ±this (mm).
        max_scaling: head scale along each axis is uniform in 1±this.
        deformation_mm: maximum displacement of the smooth nonlinear deformation over the brain (mm).
        age_min: youngest age (years); ages are uniform in [age_min, age_max].
        age_max: oldest age (years).
        age_fa_slope: change of white-matter FA per year of age (negative: FA falls with age).
        age_md_slope: change of tissue MD per year of age (mm²/s per year; positive: MD rises).
        fa_subject_sd: standard deviation of a per-subject white-matter FA offset (individual variation).
        effect_fa: absolute FA decrease of white matter inside the effect region for diagnosis=1.
        effect_center_mm: centre of the ellipsoidal effect region in MNI152 template space (mm).
        effect_radii_mm: semi-axes of the ellipsoidal effect region (mm).
        missing_dwi_fraction: this fraction of the subjects is written without DWI (a draw of its own,
            :mod:`neuropeft.demo.missing`); the workflow then needs ``optional_modalities: [dwi]``.
    """

    n_subjects: int = 32
    n_sites: int = 3
    seed: int = 0
    t1w_voxel_mm: float = 2.0
    dwi_voxel_mm: float = 3.0
    n_b0: int = 3
    n_directions: int = 20
    bvalue: float = 1000.0
    dwi_snr: float = 30.0
    t1w_snr: float = 40.0
    noise: bool = True
    bias_strength: float = 0.3
    site_scale_range: float = 0.25
    site_noise_range: float = 0.25
    max_rotation_deg: float = 10.0
    max_translation_mm: float = 10.0
    max_scaling: float = 0.05
    deformation_mm: float = 2.0
    age_min: float = 20.0
    age_max: float = 80.0
    age_fa_slope: float = -0.0015
    age_md_slope: float = 1.5e-6
    fa_subject_sd: float = 0.02
    effect_fa: float = 0.15
    effect_center_mm: list[float] = dataclasses.field(default_factory=lambda: [0.0, -5.0, 20.0])
    effect_radii_mm: list[float] = dataclasses.field(default_factory=lambda: [30.0, 35.0, 14.0])
    missing_dwi_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check_types(self)
        checks = [
            (self.n_subjects >= 1, "n_subjects must be >= 1"),
            (self.n_sites >= 1, "n_sites must be >= 1"),
            (0.5 <= self.t1w_voxel_mm <= 6, "t1w_voxel_mm must be in 0.5..6"),
            (0.5 <= self.dwi_voxel_mm <= 6, "dwi_voxel_mm must be in 0.5..6"),
            (self.n_b0 >= 1, "n_b0 must be >= 1"),
            (self.n_directions >= 6, "n_directions must be >= 6 (a tensor has 6 unknowns)"),
            (0 < self.bvalue <= 5000, "bvalue must be in (0, 5000] s/mm²"),
            (self.dwi_snr > 0 and self.t1w_snr > 0, "dwi_snr and t1w_snr must be > 0"),
            (0 <= self.bias_strength < 1, "bias_strength must be in [0, 1)"),
            (0 <= self.site_scale_range < 1 and 0 <= self.site_noise_range < 1, "site ranges must be in [0, 1)"),
            (0 <= self.max_rotation_deg <= 45, "max_rotation_deg must be in 0..45"),
            (0 <= self.max_translation_mm <= 30, "max_translation_mm must be in 0..30"),
            (0 <= self.max_scaling < 0.3, "max_scaling must be in [0, 0.3)"),
            (0 <= self.deformation_mm <= 10, "deformation_mm must be in 0..10"),
            (0 <= self.age_min <= self.age_max, "ages need 0 <= age_min <= age_max"),
            (0 <= self.fa_subject_sd <= 0.1, "fa_subject_sd must be in 0..0.1"),
            (0 <= self.effect_fa <= 0.3, "effect_fa must be in 0..0.3"),
            (len(self.effect_center_mm) == 3, "effect_center_mm must have 3 numbers"),
            (len(self.effect_radii_mm) == 3 and min(self.effect_radii_mm) > 0, "effect_radii_mm must be 3 numbers > 0"),
            (0 <= self.missing_dwi_fraction < 1, "missing_dwi_fraction must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise NeuropeftError(f"demo settings: {message}")
        span = self.age_max - self.age_min
        if WM.fa + abs(self.age_fa_slope) * span / 2 + 3 * self.fa_subject_sd + self.effect_fa > 0.9:
            raise NeuropeftError(
                "demo settings: age_fa_slope, fa_subject_sd and effect_fa push FA outside 0..1; make them smaller"
            )
        if WM.md - abs(self.age_md_slope) * span / 2 <= 0.2e-3:
            raise NeuropeftError("demo settings: age_md_slope makes MD implausibly small; make it smaller")

    @classmethod
    def tiny(cls, **overrides: object) -> DemoSettings:
        """A small, fast cohort for tests: 6 subjects, 2.5 mm T1w, 3 mm DWI, 2 b=0 + 15 directions."""
        values: dict[str, object] = dict(
            n_subjects=6, t1w_voxel_mm=2.5, dwi_voxel_mm=3.0, n_b0=2, n_directions=15, dwi_snr=35.0
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _check_types(settings: DemoSettings) -> None:
    """Refuse values of the wrong type (from a hand-written config) with one clear line."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        kind = str(field.type)
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind == "bool":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            )
        if not ok:
            raise NeuropeftError(f"demo settings: {field.name} must be {kind}, got {value!r}")
