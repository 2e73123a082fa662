"""The preprocessing modules import their heavy libraries (ants, dipy, nilearn, matplotlib, torch) where used.

A per-subject job pays every import of the modules its step reaches; a library imported at module
level is paid by every step that reaches the module, used or not (``import ants`` alone is about
3 s of CPU). Each module is imported in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: libraries no preprocessing module imports at module level
HEAVY = ("ants", "torch", "deepbet", "matplotlib", "dipy", "nilearn", "sklearn", "statsmodels", "pandas")
#: the modules the per-subject preprocessing steps reach
MODULES = (
    "n4",
    "skullstrip",
    "registration",
    "tensor",
    "bvecs",
    "resample",
    "template",
    "t1w_deepbet",
    "imageio",
    "channels",
    "qc",
    "qc_subject",
    "qc_metrics",
)


def imported(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a fresh interpreter has loaded after importing ``module``."""
    code = f"import sys, {module}\nprint(' '.join(m for m in {names!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_no_heavy_library(name: str) -> None:
    assert imported(f"neuropeft.preproc.{name}", HEAVY) == []


def test_qc_subject_labels_need_no_arrays() -> None:
    # qc-subject's --help reads LABELS; numpy and nibabel come with the drawing
    assert imported("neuropeft.preproc.qc_subject", ("numpy", "nibabel", *HEAVY)) == []
