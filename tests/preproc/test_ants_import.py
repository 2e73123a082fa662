"""ANTsPy loaded without the sub-packages that pull scikit-learn, statsmodels and matplotlib."""

from __future__ import annotations

import subprocess
import sys

import pytest

from neuropeft.preproc.ants_import import SKIPPED_SUBPACKAGES, _stand_in

#: what the preprocessing steps call, all of which must be ANTsPy's own functions after load_ants
USED = ("image_read", "from_numpy", "n4_bias_field_correction", "registration", "apply_transforms", "resample_image")


def run_python(code: str) -> str:
    """stdout of ``code`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_load_ants_skips_the_heavy_libraries_and_keeps_what_the_steps_use() -> None:
    code = (
        "import sys\nfrom neuropeft.preproc.ants_import import load_ants\nants = load_ants()\n"
        "print(sorted(m for m in ('sklearn', 'statsmodels', 'matplotlib') if m in sys.modules))\n"
        f"print([n for n in {USED!r} if not callable(getattr(ants, n, None))])\n"
        f"print([n for n in {USED!r} if getattr(ants, n).__module__.startswith(tuple({SKIPPED_SUBPACKAGES!r}))])"
    )
    heavy, missing, stood_in = run_python(code).splitlines()
    assert heavy == "[]"
    assert missing == "[]"
    assert stood_in == "[]"


def test_an_already_loaded_ants_is_returned_as_it_is() -> None:
    code = (
        "import sys, ants\nfrom neuropeft.preproc.ants_import import load_ants\n"
        "print(load_ants() is ants, callable(getattr(ants, 'plot', None)), 'matplotlib' in sys.modules)"
    )
    assert run_python(code) == "True True True"


def test_a_skipped_function_raises_naming_its_module() -> None:
    module = _stand_in("ants.plotting")
    with pytest.raises(RuntimeError, match=r"ants\.plotting\.plot is not loaded"):
        module.plot()
    with pytest.raises(AttributeError):
        module.__all__  # noqa: B018 (a star import from the stand-in imports nothing)
