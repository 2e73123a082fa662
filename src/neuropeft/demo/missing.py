"""Which demo subjects lack their DWI (``demo.missing_dwi_fraction``): one seeded draw, apart from the others.

The workflow (at parse time, to list each subject's files) and the demo writer both call
:func:`missing_dwi_subjects`, so they agree. The draw has its own random stream (seed and a tag of
its own), so every other draw of the demo (designs, sites, images) is the same with or without it.
Import-light but for numpy, which is imported only when some subject lacks DWI.
"""

from __future__ import annotations

#: the stream tag of this draw (the other streams use 1, 2, 3: neuropeft.demo.design)
_MISSING_DWI = 4


def missing_dwi_subjects(n_subjects: int, fraction: float, seed: int) -> list[str]:
    """The sorted IDs (``sub-003`` ...) of the round(fraction * n_subjects) subjects written without DWI."""
    count = round(fraction * n_subjects)
    if count <= 0:
        return []
    import numpy as np

    chosen = np.random.default_rng([seed, _MISSING_DWI]).choice(n_subjects, size=count, replace=False)
    return [f"sub-{index + 1:03d}" for index in sorted(int(i) for i in chosen)]
