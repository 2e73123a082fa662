"""The imaging modalities a subject record holds, their channels, and which of them may be missing.

Import-light: the Snakefile and the BIDS index both use it.
"""

from __future__ import annotations

from collections.abc import Sequence

from neuropeft.errors import NeuropeftError

#: a subject record's raw-file fields of each modality ("" when the subject lacks an optional one)
MODALITY_FIELDS = {"t1w": ("t1w",), "dwi": ("dwi", "bval", "bvec")}
#: the channels of each modality's model-ready volume, as resample makes them (dwi: FA, MD; t1w: one)
MODALITY_CHANNELS = {"dwi": 2, "t1w": 1}


def check_optional(modalities: Sequence[str], optional: Sequence[str]) -> None:
    """Refuse optional modalities that are not in ``modalities``, or that leave none required."""
    stray = sorted(set(optional) - set(modalities))
    if stray:
        raise NeuropeftError(
            f"optional_modalities {stray} are not in modalities {list(modalities)}; add them there or remove them"
        )
    if optional and set(modalities) <= set(optional):
        raise NeuropeftError(
            f"optional_modalities {sorted(set(optional))} leave no modality required; every subject needs one, "
            "remove one from optional_modalities"
        )


def has_modality(record: dict[str, str], modality: str) -> bool:
    """Whether a subject record has ``modality`` (its raw-file fields are filled in)."""
    return all(record.get(field) for field in MODALITY_FIELDS[modality])
