"""BIDS labels: ``sub-<label>`` and ``ses-<label>`` where the label is letters and digits only."""

from __future__ import annotations

import re

_LABEL = re.compile(r"[A-Za-z0-9]+")


def is_valid_label(label: str) -> bool:
    """True when ``label`` is a BIDS label: one or more ASCII letters or digits, nothing else."""
    return _LABEL.fullmatch(label) is not None


def id_problem(value: str, prefix: str) -> str | None:
    """Why ``value`` is not a valid ``<prefix>-<label>`` ID (``prefix`` is "sub" or "ses"), or None."""
    kind = {"sub": "subject", "ses": "session"}[prefix]
    if not value.startswith(f"{prefix}-"):
        return f"{kind} ID {value!r} must start with '{prefix}-'; write it as '{prefix}-<letters and digits>'"
    if not is_valid_label(value[len(prefix) + 1 :]):
        return (
            f"{kind} ID {value!r} is not a valid BIDS label: after '{prefix}-' only letters and digits are "
            f"allowed (no spaces, '_', '-', '/', '.'); rename it everywhere (folder, file names, participants.tsv)"
        )
    return None
