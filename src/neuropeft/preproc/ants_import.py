"""ANTsPy without the sub-packages neuropeft never calls.

``import ants`` star-imports every sub-package, and four of them pull in scikit-learn, statsmodels,
scipy.stats and matplotlib at import time (ANTsPy issue #610): about 2.3 s of the 3.1 s that every
preprocessing job paid before doing any work. ``load_ants`` puts a stand-in for each of those four in
``sys.modules`` while ANTsPy loads; calling anything taken from a stand-in raises an error naming it.
The functions neuropeft uses (image I/O, N4, registration, transforms, resampling) come from the other
sub-packages and are ANTsPy's own, unchanged.
"""

import sys
import types
from collections.abc import Callable
from typing import Any

SKIPPED_SUBPACKAGES = ("ants.learn", "ants.deeplearn", "ants.plotting", "ants.math.quantile")


def load_ants() -> Any:
    """The ``ants`` module, loaded without ``SKIPPED_SUBPACKAGES`` unless it is already loaded."""
    if "ants" not in sys.modules:
        for name in SKIPPED_SUBPACKAGES:
            sys.modules.setdefault(name, _stand_in(name))
    import ants

    return ants


def _stand_in(module_name: str) -> types.ModuleType:
    """A module whose every public name is a function that raises, naming the skipped module."""
    module = types.ModuleType(module_name, f"Stand-in for {module_name}, not loaded by neuropeft.")

    def attribute(name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)  # star imports and introspection see an empty module

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(
                f"{module_name}.{name} is not loaded: neuropeft.preproc.ants_import.load_ants skips {module_name}"
            )

        return unavailable

    module.__getattr__ = attribute  # type: ignore[method-assign]
    return module
