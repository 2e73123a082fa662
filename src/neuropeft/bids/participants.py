"""participants.tsv: read it, validate the IDs and the target column, and tell the target's kind."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from neuropeft.bids.ids import id_problem
from neuropeft.errors import NeuropeftError
from neuropeft.outcomes import outcome_cell, outcome_problem

#: cell values that mean "no value" (compared case-insensitively)
MISSING = frozenset({"", "n/a", "na", "nan", "none", "null"})


@dataclass
class Participants:
    """The usable rows of participants.tsv, and the problems of the others (keyed by participant_id)."""

    targets: dict[str, str] = field(default_factory=dict)  # participant_id -> target (as written)
    sites: dict[str, str] = field(default_factory=dict)  # participant_id -> site ("" when no site column)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (participant_id, message)
    listed: set[str] = field(default_factory=set)  # every participant_id in the file, usable or not


def is_missing(value: str) -> bool:
    """True for an empty cell or a BIDS/pandas "no value" marker such as ``n/a``."""
    return value.strip().lower() in MISSING


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise NeuropeftError(
            f"{path} not found; a BIDS dataset needs participants.tsv (tab-separated) with a participant_id column and the target column"
        )
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        reason = " ".join(str(error).split())
        raise NeuropeftError(
            f"{path} cannot be read as a tab-separated table ({reason}); save it as UTF-8 TSV"
        ) from None
    table.columns = [str(column).strip() for column in table.columns]
    return table.apply(lambda column: column.str.strip())


def read_participants(
    path: str | Path, target: str, site_column: str, event_column: str = "", covariates: Sequence[str] = ()
) -> Participants:
    """Read ``path``; fatal errors (missing file or column) raise :class:`NeuropeftError`.

    ``site_column`` is optional: when it is "" or not in the file every site is "". With an
    ``event_column`` (``task: survival``) ``target`` is the follow-up time, and each target becomes the
    outcome's one-cell form (:func:`neuropeft.outcomes.outcome_cell`); a bad time or event is a
    participant's problem. Each of ``covariates`` (columns the experiments feed to the head) must have a
    value in a usable row.
    """
    path = Path(path)
    table = _read_table(path)
    columns = ", ".join(table.columns) or "none"
    if "participant_id" not in table.columns:
        hint = (
            " (it looks comma-separated; BIDS wants tabs)"
            if len(table.columns) == 1 and "," in table.columns[0]
            else ""
        )
        raise NeuropeftError(
            f"{path} has no participant_id column (columns: {columns}){hint}; add it as the first column"
        )
    if target not in table.columns:
        raise NeuropeftError(
            f"{path} has no column {target!r} for the target (columns: {columns}); set target to one of them"
        )
    absent = [c for c in covariates if c not in table.columns]
    if absent:
        raise NeuropeftError(
            f"{path} has no column(s) {absent} named in the experiments' covariates (columns: {columns}); "
            "add them or change covariates"
        )
    if event_column and event_column not in table.columns:
        raise NeuropeftError(
            f"{path} has no column {event_column!r} for the event indicator (columns: {columns}); set event_column to one of them"
        )
    result = Participants()
    lines: dict[str, list[int]] = defaultdict(list)
    for line, value in enumerate(table["participant_id"], start=2):
        lines[value].append(line)
    result.listed = set(lines)
    has_site = bool(site_column) and site_column in table.columns
    reported: set[str] = set()
    blank = [""] * len(table)
    lacking_by_row = [[c for c in covariates if is_missing(row[c])] for row in table.to_dict("records")]
    for pid, target_value, site, event, lacking in zip(
        table["participant_id"],
        table[target],
        table[site_column] if has_site else blank,
        table[event_column] if event_column else blank,
        lacking_by_row,
        strict=False,
    ):
        if len(lines[pid]) > 1:
            if pid not in reported:
                where = ", ".join(str(n) for n in lines[pid])
                result.problems.append(
                    (
                        pid,
                        f"participant_id appears {len(lines[pid])} times in participants.tsv (lines {where}); keep one row per participant",
                    )
                )
                reported.add(pid)
            continue
        reason = id_problem(pid, "sub")
        if reason:
            result.problems.append((pid, f"{reason} (participants.tsv)"))
        elif lacking:
            result.problems.append(
                (
                    pid,
                    f"has no value for covariate(s) {lacking} in participants.tsv; fill them in or remove them from covariates",
                )
            )
        elif is_missing(target_value):
            result.problems.append(
                (
                    pid,
                    f"has no value for the target {target!r} in participants.tsv; fill it in or remove the participant's row",
                )
            )
        elif event_column:
            problem = outcome_problem(target_value, event)
            if problem:
                result.problems.append(
                    (pid, f"has {problem} in participants.tsv ({target!r}, {event_column!r}); fix it or remove the row")
                )
            else:
                result.targets[pid] = outcome_cell(target_value, event)
                result.sites[pid] = site
        else:
            result.targets[pid] = target_value
            result.sites[pid] = site
    if not event_column:
        _refuse_stray_text_targets(result, target)
    return result


def _refuse_stray_text_targets(result: Participants, target: str) -> None:
    """In a mostly numeric target column, a text value (``maybe``, ``?``) is a typo, not a class."""
    text = [pid for pid, value in result.targets.items() if _as_number(value) is None]
    if text and len(text) < len(result.targets) / 2:
        for pid in text:
            value = result.targets.pop(pid)
            result.sites.pop(pid, None)
            result.problems.append(
                (
                    pid,
                    f"has target {target!r} value {value!r} in participants.tsv where the others are numbers; fix it or remove the participant's row",
                )
            )


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def target_kind(values: Iterable[str]) -> str:
    """``binary``, ``multiclass`` or ``continuous`` for a column of target values (as strings).

    Rule: at most two distinct values -> binary. Text values -> multiclass. Numbers -> multiclass when
    all are integers with at most 10 distinct values and at least two rows per value on average,
    else continuous. The workflow's ``task`` setting overrides this guess.
    """
    values = [v for v in values if not is_missing(v)]
    distinct = set(values)
    if len(distinct) <= 2:
        return "binary"
    numbers = [_as_number(v) for v in distinct]
    if any(n is None for n in numbers):
        return "multiclass"
    integers = all(float(n).is_integer() for n in numbers if n is not None)
    if integers and len(distinct) <= 10 and len(values) >= 2 * len(distinct):
        return "multiclass"
    return "continuous"
