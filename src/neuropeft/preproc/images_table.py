"""An images table: images prepared elsewhere (FA maps from another pipeline, a benchmark's volumes),
one row per subject (and session), read and validated with every problem found at once.

Columns: ``path`` or several ``path_<channel>`` (channels in column order; relative paths are read
from the table's folder), the target, and optional ``participant_id`` (default: the first image's
file name without extension), ``session``, the site column and ``split`` (``train``/``val``/``test``:
one fixed split instead of k folds); for ``task: survival`` the target is the follow-up time and an
event column says whether the event happened (each target becomes the outcome's one-cell form,
:func:`neuropeft.outcomes.outcome_cell`). A row with a problem (empty cell, missing or unreadable image,
an image that is not one 3D volume, a text target among numbers, an unknown split, a duplicate
subject/session) is excluded with its reason; what is wrong with the table itself stops at once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.bids.checks import nifti_shape
from neuropeft.bids.index import EXCLUDED_COLUMNS
from neuropeft.bids.participants import is_missing, target_kind
from neuropeft.bids.problems import Problem, format_problems
from neuropeft.errors import NeuropeftError
from neuropeft.outcomes import outcome_cell, outcome_problem
from neuropeft.preproc.stack import read_table

#: the values of a ``split`` column (one fixed split; each row's role)
SPLITS = ("train", "val", "test")


@dataclass
class ImagesTable:
    """The valid rows of an images table, every problem found, and the rows excluded and why."""

    #: participant_id, session, site, target, [split], [covariates], image columns (absolute paths); valid rows only
    rows: pd.DataFrame
    problems: list[Problem]
    excluded: pd.DataFrame  # EXCLUDED_COLUMNS
    image_columns: list[str]
    target_kind: str  # binary | multiclass | continuous (of the valid rows' targets)

    @property
    def fixed_split(self) -> bool:
        """Whether the table gives one fixed train/val/test split (a ``split`` column)."""
        return "split" in self.rows.columns

    def image_paths(self) -> list[str]:
        """Every image file of the valid rows (the workflow's inputs)."""
        return [path for column in self.image_columns for path in self.rows[column]]

    def summary(self) -> str:
        """``N of M rows excluded``."""
        return f"{len(self.excluded)} of {len(self.excluded) + len(self.rows)} rows excluded"

    def refuse_problems(self, source: Path | str) -> None:
        """Stop with every problem listed (one line when there is one)."""
        if len(self.problems) == 1:
            raise NeuropeftError(format_problems(self.problems))
        if self.problems:
            raise NeuropeftError(
                f"{len(self.problems)} problems in {source}; fix them or drop those rows:\n"
                + format_problems(self.problems)
            )


def image_columns(table: pd.DataFrame, source: Path) -> list[str]:
    """The image columns: ``path`` alone or the ``path_<channel>`` columns in order."""
    multi = [c for c in table.columns if c.startswith("path_")]
    if "path" in table.columns and multi:
        raise NeuropeftError(
            f"{source}: has both 'path' and {multi}; use one 'path' column or only path_<channel> columns"
        )
    columns = ["path"] if "path" in table.columns else multi
    if not columns:
        raise NeuropeftError(
            f"{source}: no image column; add a 'path' column or path_<channel> columns (e.g. path_fa, path_md)"
        )
    return columns


def _image_problems(value: str, column: str, source: Path) -> tuple[str, list[str]]:
    """The absolute path of one image cell and what is wrong with it."""
    if not value:
        return "", [f"empty {column}; give an image path"]
    path = Path(value) if Path(value).is_absolute() else source.parent / value
    if not path.is_file():
        return str(path), [
            f"{column} file {value} does not exist; fix the path (relative paths are read from the table's folder)"
        ]
    shape, problems = nifti_shape(path)
    messages = [f"{column} file {value} {p.message}" for p in problems]
    if shape is not None and not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)):
        messages.append(f"{column} file {value} must be one 3D volume but has shape {shape}; keep a single volume")
    return str(path.resolve()), messages


def _stray_text(values: pd.Series) -> pd.Series:
    """Rows whose target is text in a mostly numeric column (a typo, not a class)."""
    numeric = pd.to_numeric(values, errors="coerce").notna()
    filled = values != ""
    text = filled & ~numeric
    return text if text.sum() < filled.sum() / 2 else pd.Series(False, index=values.index)


def read_images_table(
    source: Path, target: str, site_column: str = "site", event_column: str = "", covariates: Sequence[str] = ()
) -> ImagesTable:
    """Read and validate an images table; rows with problems are excluded with their reasons. With
    ``event_column`` each target is a time-to-event outcome (a bad time or event is the row's problem);
    ``covariates`` (columns the experiments feed to the head) need a value in every row and are kept."""
    table = read_table(source, [target, *([event_column] if event_column else []), *covariates], "images table")
    columns = image_columns(table, source)
    messages: list[list[str]] = [[] for _ in range(len(table))]
    resolved = {column: [""] * len(table) for column in columns}
    for row, record in enumerate(table.to_dict("records")):
        for column in columns:
            resolved[column][row], problems = _image_problems(record[column], column, source)
            messages[row] += problems
    ids = table["participant_id"] if "participant_id" in table.columns else pd.Series([""] * len(table))
    ids = [pid or Path(table[columns[0]].iloc[row]).name.split(".")[0] for row, pid in enumerate(ids)]
    sessions = table["session"].tolist() if "session" in table.columns else [""] * len(table)
    for row, value in enumerate(table[target]):
        if value == "":
            messages[row].append(f"has no value for the target {target!r}; fill it in or drop the row")
    targets = table[target]
    if event_column:
        for row, (value, event) in enumerate(zip(table[target], table[event_column], strict=True)):
            problem = outcome_problem(value, event) if value != "" else ""
            if problem:
                messages[row].append(f"has {problem} ({target!r}, {event_column!r})")
        targets = pd.Series(
            [outcome_cell(v, e) if not m else v for v, e, m in zip(targets, table[event_column], messages, strict=True)]
        )
    else:
        for row in _stray_text(table[target]).to_numpy().nonzero()[0]:
            messages[row].append(
                f"has target {target!r} value {table[target].iloc[row]!r} where the others are numbers"
            )
    for name in covariates:
        for row, value in enumerate(table[name]):
            if is_missing(value):
                messages[row].append(f"has no value for covariate {name!r}; fill it in or remove it from covariates")
    if "split" in table.columns:
        for row, value in enumerate(table["split"]):
            if value not in SPLITS:
                messages[row].append(f"has split {value!r}; use one of {', '.join(SPLITS)}")
    keys = pd.Series([f"{pid}/{ses}" for pid, ses in zip(ids, sessions, strict=True)])
    for row in keys[keys.duplicated(keep=False)].index:
        others = [str(r + 2) for r in keys[keys == keys[row]].index if r != row]
        messages[row].append(
            f"is the same participant_id/session as line(s) {', '.join(others)}; give each row its own participant_id or session"
        )
    frame = pd.DataFrame(
        {
            "participant_id": ids,
            "session": sessions,
            "site": table[site_column] if site_column in table.columns else "",
            "target": targets,
            **({"split": table["split"]} if "split" in table.columns else {}),
            **{name: table[name] for name in covariates},
            **resolved,
        }
    )
    bad = [row for row, found in enumerate(messages) if found]
    problems = [Problem(f"{source} line {row + 2} ({ids[row]})", message) for row in bad for message in messages[row]]
    excluded = pd.DataFrame(
        [[ids[row], sessions[row], " | ".join(messages[row])] for row in bad], columns=EXCLUDED_COLUMNS, dtype=str
    )
    rows = frame.drop(index=bad).reset_index(drop=True)
    return ImagesTable(rows, problems, excluded, columns, target_kind(rows["target"].tolist()))


def check_usable(images: ImagesTable, source: Path | str, classification: bool) -> None:
    """Refuse a table with no valid row, or a fixed split without train, val or test rows (or, for a
    classification, a val or test part lacking a class)."""
    if images.rows.empty:
        raise NeuropeftError(f"no valid row left in {source}: {images.summary()}")
    if not images.fixed_split:
        return
    for part in SPLITS:
        rows = images.rows[images.rows["split"] == part]
        if rows.empty:
            raise NeuropeftError(f"{source}: no valid {part} row in the split column; every split needs subjects")
        absent = set(images.rows["target"]) - set(rows["target"]) if classification and part != "train" else set()
        if absent:
            raise NeuropeftError(
                f"{source}: the {part} split has no row of class {sorted(absent)[0]}; "
                "fitting the threshold and scoring need every class there"
            )


def validate_table(
    source: Path,
    target: str,
    site_column: str,
    task: str,
    out_cohort: Path,
    out_excluded: Path,
    event_column: str = "",
    covariates: Sequence[str] = (),
) -> None:
    """Validate an images table; write its valid rows (target column ``target``, absolute image paths)
    and the rows excluded with their reasons; every problem goes to stderr, one line each."""
    images = read_images_table(source, target, site_column, event_column, covariates)
    check_usable(images, source, task == "classification")
    if images.problems:
        print(f"{images.summary()}:\n{format_problems(images.problems)}", file=sys.stderr)
    write_tsv(images.rows, out_cohort)
    write_tsv(images.excluded, out_excluded)
