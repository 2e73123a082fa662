"""One check for every setting with a fixed set of allowed values, and one wording for its error.

Each set of allowed values is a module-level tuple or dict in the library module that implements
it (``BACKBONES`` in ``learn/backbones.py``, ``TRANSFORMS`` in ``preproc/registration.py`` ...);
``config/schema.yaml``'s enums, ``config/config.yaml`` and the settings dataclasses' defaults are
checked against them by ``tests/test_choices.py``. A bad value is refused on one line::

    registration transform 'Afine' is not one of ['Rigid', 'Affine', 'SyN']; did you mean 'Affine'?

MONAI's ``monai.utils.look_up_option`` is the model.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import TypeVar

from neuropeft.errors import NeuropeftError

T = TypeVar("T")


def allowed_values(allowed: Collection[T]) -> list[T]:
    """The allowed values in a stable order: as given for a tuple, list or dict, sorted for a set."""
    if isinstance(allowed, (set, frozenset)):
        return sorted(allowed, key=str)
    return list(allowed)


def suggestion(value: object, allowed: Iterable[object]) -> str | None:
    """The allowed value closest to ``value`` (difflib, case-insensitive), or None when none is close."""
    by_folded = {str(option).casefold(): option for option in allowed}
    close = difflib.get_close_matches(str(value).casefold(), list(by_folded), n=1, cutoff=0.6)
    return str(by_folded[close[0]]) if close else None


def look_up_option(value: T, allowed: Collection[T], what: str, hint: str = "") -> T:
    """``value`` when it is one of ``allowed``; otherwise a one-line :class:`NeuropeftError`.

    The message reads ``<what> <value!r> is not one of [<allowed>]``, then ``; did you mean <close>?``
    when an allowed value is close, then ``; <hint>`` when a hint is given. ``allowed`` is a tuple,
    list, set or dict (its keys).
    """
    try:
        if value in allowed:
            return value
    except TypeError:  # an unhashable value (e.g. a list) looked up in a dict or set
        pass
    options = allowed_values(allowed)
    message = f"{what} {value!r} is not one of {options}"
    close = suggestion(value, options)
    if close is not None:
        message += f"; did you mean {close!r}?"
    if hint:
        message += f"; {hint}"
    raise NeuropeftError(message)


def look_up_options(values: Iterable[T], allowed: Collection[T], what: str, hint: str = "") -> list[T]:
    """Every one of ``values`` checked by :func:`look_up_option` (the first bad one is refused)."""
    return [look_up_option(value, allowed, what, hint) for value in values]
