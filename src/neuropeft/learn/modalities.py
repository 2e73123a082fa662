"""Which channels of the cohort stack belong to which modality (torch-free: the Snakefile imports it).

The stack holds the workflow's ``modalities`` in their configured order: ``dwi`` as two channels (FA,
MD), ``t1w`` as one. An experiment's ``modalities`` take a subset of them; a subject lacking a modality
has zeros in its channels (``optional_modalities``), which is how the models tell that it is absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from neuropeft.errors import NeuropeftError
from neuropeft.modalities import MODALITY_CHANNELS


def channel_indices(stack: Sequence[str], modalities: Sequence[str]) -> list[int]:
    """The stack channels (indices) of ``modalities``, in stack order; ``stack`` lists the stack's modalities."""
    unknown = [m for m in modalities if m not in stack]
    if unknown:
        raise NeuropeftError(
            f"experiment modalities {unknown} are not in the workflow's modalities {list(stack)}; add them there"
        )
    indices, start = [], 0
    for modality in stack:
        width = MODALITY_CHANNELS[modality]
        if modality in modalities:
            indices += list(range(start, start + width))
        start += width
    return indices


def input_positions(modalities: Sequence[str]) -> dict[str, list[int]]:
    """Each modality's channel positions in a model input made of ``modalities`` (in that order)."""
    positions, start = {}, 0
    for modality in modalities:
        positions[modality] = list(range(start, start + MODALITY_CHANNELS[modality]))
        start += MODALITY_CHANNELS[modality]
    return positions


def experiment_modalities(stack: Sequence[str], chosen: Sequence[str]) -> list[str]:
    """An experiment's modalities in stack order: those it names, else every modality of the stack."""
    return [m for m in stack if m in chosen] if chosen else list(stack)


def input_sets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty set of ``modalities`` (in order): the inputs a multi-modal model is evaluated on."""
    return [c for k in range(1, len(modalities) + 1) for c in combinations(modalities, k)]


def input_label(modalities: Sequence[str]) -> str:
    """``t1w+dwi``-style name of a set of modalities."""
    return "+".join(modalities)


def experiment_channels(stack: Sequence[str], chosen: Sequence[str], n_channels: int, source: str) -> list[int] | None:
    """The stack channels an experiment takes (None: all of them), checking the stack's channel count
    (``n_channels``, of the array ``source``) against its modalities when they are known."""
    if not stack:
        if chosen:
            raise NeuropeftError(
                f"experiment modalities {list(chosen)} need the stack's modalities; run it through the workflow"
            )
        return None
    expected = sum(MODALITY_CHANNELS[m] for m in stack)
    if expected != n_channels:
        raise NeuropeftError(
            f"{source} has {n_channels} channels but modalities {list(stack)} make {expected}; "
            "rebuild the stack with the workflow's modalities"
        )
    return channel_indices(stack, experiment_modalities(stack, chosen)) if chosen else None
