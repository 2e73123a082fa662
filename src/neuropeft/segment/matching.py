"""Per-subject files matched to the rows of an index table through the cohort table's stems.

An index (``model_input.tsv``, a fold's ``predicted_index.tsv``) names its rows by
``participant_id`` and ``session`` ("n/a" without sessions); the cohort table gives each
(participant_id, session) its ``stem`` (``sub-01`` or ``sub-01_ses-1``), and a per-subject file
belongs to the longest stem its name starts with, followed by ``_`` or ``.``
(as ``stack-model-input`` matches its volumes). Files of
subjects outside the index (left out by the QC, failed, or in another fold) are ignored; an index
row without exactly one file is refused on one line naming the subject.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.stack import read_table

#: the session value of an index row without sessions (the cohort table leaves it empty)
NO_SESSION = "n/a"


def _session(value: str) -> str:
    return "" if value in ("", NO_SESSION) else value


def owner_stem(name: str, stems: set[str]) -> str | None:
    """The longest of ``stems`` the file ``name`` starts with, followed by ``_`` or ``.`` (None if
    none): :func:`neuropeft.preproc.stack.owner_stem` by set look-ups, for large cohorts."""
    candidates = [name[:i] for i, char in enumerate(name) if char in "_." and name[:i] in stems]
    return max(candidates, key=len) if candidates else None


def describe(participant: str, session: str) -> str:
    """``sub-01`` or ``sub-01 session ses-1``, for messages."""
    return participant + (f" session {session}" if _session(session) else "")


def index_stems(index: pd.DataFrame, index_path: Path, cohort_path: Path) -> tuple[list[str], list[str]]:
    """The cohort stem of each ``index`` row, in order, and every stem of the cohort table."""
    cohort = read_table(cohort_path, ["participant_id", "stem"], "cohort table")
    sessions = cohort["session"] if "session" in cohort.columns else [""] * len(cohort)
    stem_of = {
        (pid, _session(ses)): stem
        for pid, ses, stem in zip(cohort["participant_id"], sessions, cohort["stem"], strict=True)
    }
    stems = []
    for pid, ses in zip(index["participant_id"], index["session"], strict=True):
        stem = stem_of.get((pid, _session(ses)))
        if stem is None:
            raise NeuropeftError(
                f"{index_path}: {describe(pid, ses)} is not in the cohort table {cohort_path}; pass the cohort the index was made from"
            )
        stems.append(stem)
    repeated = sorted(stem for stem, count in Counter(stems).items() if count > 1)
    if repeated:
        raise NeuropeftError(f"{index_path}: {repeated[:3]} appear more than once; each subject needs one row")
    return stems, list(cohort["stem"])


def files_of(
    stems: Sequence[str],
    cohort_stems: Sequence[str],
    files: Sequence[Path],
    what: str,
    index_path: Path,
    index: pd.DataFrame,
) -> list[Path]:
    """The one file of each of ``stems`` among ``files`` (others ignored), refusing a missing or
    ambiguous one on one line naming the subject."""
    wanted: dict[str, list[Path]] = {stem: [] for stem in stems}
    known = set(cohort_stems)
    for path in files:
        owner = owner_stem(Path(path).name, known)
        if owner in wanted:
            wanted[owner].append(Path(path))
    found = []
    for stem, pid, ses in zip(stems, index["participant_id"], index["session"], strict=True):
        hits = wanted[stem]
        if not hits:
            raise NeuropeftError(
                f"{index_path}: {describe(pid, ses)} has no {what} among the {len(files)} given (none named {stem}_*); "
                "run its step or leave the subject out of the index"
            )
        if len(hits) > 1:
            raise NeuropeftError(
                f"{index_path}: {describe(pid, ses)} has {len(hits)} {what}s {[h.name for h in hits]}; pass one per subject"
            )
        if not hits[0].is_file():
            raise NeuropeftError(f"{hits[0]}: the {what} of {describe(pid, ses)} does not exist; run its step first")
        found.append(hits[0])
    return found
