"""A validation problem: what is wrong, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Problem(NamedTuple):
    """One problem found in a dataset.

    ``path_or_subject`` names the file (absolute path) or the subject/session (``sub-01``,
    ``sub-01/ses-01``) or ``participants.tsv``; ``message`` says what is wrong and the fix.
    """

    path_or_subject: str
    message: str


def one_line(text: str) -> str:
    """``text`` with line breaks and runs of whitespace collapsed to single spaces."""
    return " ".join(str(text).split())


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem: ``<path or subject>: <message>``."""
    return "\n".join(f"{one_line(p.path_or_subject)}: {one_line(p.message)}" for p in problems)
