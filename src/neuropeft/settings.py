"""Step settings passed from the workflow config to a step as one JSON object."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from neuropeft.errors import NeuropeftError

T = TypeVar("T")


def parse_settings(cls: type[T], text: str) -> T:
    """Build the dataclass ``cls`` from a JSON object, refusing unknown keys by name."""
    try:
        values: dict[str, Any] = json.loads(text) if text else {}
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"--settings is not valid JSON ({error}); pass a JSON object") from None
    if not isinstance(values, dict):
        raise NeuropeftError("--settings must be a JSON object")
    known = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise NeuropeftError(f"unknown setting(s) {unknown} for {cls.__name__}; allowed: {sorted(known)}")
    return cls(**values)
