"""Random head pose (affine) and smooth nonlinear deformation of one demo subject.

Direction convention: ``subject_from_template`` (A, 4×4, RAS mm) maps a template world point x to
the subject (scanner) world point A @ x, with A = T · R · S: scale S = diag(scale) about the
template origin, then rotation R = Rz · Ry · Rx (angles ``rotation_deg`` about x, y, z, right-hand
rule), then translation T.  The deformation acts on the template side: the anatomy found at
template point x + u(x) appears at subject world point A @ x, where u is a smooth displacement
field (a sum of a few long-wavelength sine waves) with max |u| = ``deformation_mm`` over the brain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuropeft.demo.settings import DemoSettings

N_WAVES = 3


@dataclass(frozen=True)
class Pose:
    """One subject's pose and deformation (see the module docstring for the convention)."""

    rotation_deg: np.ndarray  # (3,)
    translation_mm: np.ndarray  # (3,)
    scale: np.ndarray  # (3,)
    wave_vectors: np.ndarray  # (N_WAVES, 3) rad/mm
    wave_phases: np.ndarray  # (N_WAVES,)
    wave_amplitudes: np.ndarray  # (N_WAVES, 3) mm

    @property
    def rotation(self) -> np.ndarray:
        """The 3×3 rotation R = Rz · Ry · Rx."""
        ax, ay, az = np.deg2rad(self.rotation_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        return rz @ ry @ rx

    @property
    def subject_from_template(self) -> np.ndarray:
        """4×4 affine A: template world point x → subject world point A @ x (deformation ignored)."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.rotation @ np.diag(self.scale)
        matrix[:3, 3] = self.translation_mm
        return matrix

    def displacement(self, xyz: np.ndarray) -> np.ndarray:
        """The deformation u at template points ``xyz`` (3, n), in mm (3, n)."""
        phase = self.wave_vectors @ xyz + self.wave_phases[:, None]  # (N_WAVES, n)
        return self.wave_amplitudes.T @ np.sin(phase)

    def template_points(self, subject_xyz: np.ndarray) -> np.ndarray:
        """Template world points (3, n) whose anatomy appears at subject world points (3, n)."""
        inverse = np.linalg.inv(self.subject_from_template)
        xyz = inverse[:3, :3] @ subject_xyz + inverse[:3, 3:]
        return xyz + self.displacement(xyz)

    def as_json(self, brain_points: np.ndarray) -> dict[str, Any]:
        """The truth record written to ``sub-XXX_pose.json``."""
        return {
            "subject_from_template": self.subject_from_template.round(10).tolist(),
            "convention": (
                "RAS mm; template world point x maps to subject world point subject_from_template @ x; "
                "A = T*R*S with R = Rz*Ry*Rx (right-hand rule, degrees rotation_deg about x,y,z), "
                "S = diag(scale) about the template origin; the anatomy at template point x + u(x) "
                "appears at subject point A @ x, u(x) = sum_k amplitude_k * sin(wavevector_k . x + phase_k)"
            ),
            "rotation_deg": self.rotation_deg.tolist(),
            "translation_mm": self.translation_mm.tolist(),
            "scale": self.scale.tolist(),
            "max_deformation_mm": float(np.linalg.norm(self.displacement(brain_points), axis=0).max(initial=0.0)),
            "deformation_wavevectors_rad_per_mm": self.wave_vectors.tolist(),
            "deformation_phases_rad": self.wave_phases.tolist(),
            "deformation_amplitudes_mm": self.wave_amplitudes.tolist(),
        }


def random_pose(rng: np.random.Generator, settings: DemoSettings, brain_points: np.ndarray) -> Pose:
    """Draw a pose within the settings' limits; scale the deformation to ``deformation_mm`` over ``brain_points``."""
    rotation = rng.uniform(-settings.max_rotation_deg, settings.max_rotation_deg, 3)
    translation = rng.uniform(-settings.max_translation_mm, settings.max_translation_mm, 3)
    scale = 1.0 + rng.uniform(-settings.max_scaling, settings.max_scaling, 3)
    directions = rng.normal(size=(N_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(80.0, 160.0, N_WAVES)
    vectors = directions * (2 * np.pi / wavelengths)[:, None]
    phases = rng.uniform(0, 2 * np.pi, N_WAVES)
    amplitudes = rng.normal(size=(N_WAVES, 3))
    unit = Pose(rotation, translation, scale, vectors, phases, amplitudes)
    peak = np.linalg.norm(unit.displacement(brain_points), axis=0).max()
    return Pose(rotation, translation, scale, vectors, phases, amplitudes * (settings.deformation_mm / peak))
