"""The validated cohort of a BIDS dataset, cached so that Snakefile parsing stays cheap.

``load_cohort`` walks the dataset with ``os.scandir`` (names, sizes, mtimes; nothing is opened but
participants.tsv) and compares a fingerprint of that walk, participants.tsv's bytes, the call's
arguments and this package's code with the cache in ``cache_dir``. On a hit the stored result is
returned. On a miss the dataset is validated again; header checks of files whose (path, size,
mtime) are unchanged are reused from the previous cache, so adding one subject re-reads one subject.
The walk covers the inherited sidecars (root, subject and session folders) and the arguments hold
the acquisition filters, so both are part of the fingerprint.

Sessions: a session without a required modality is skipped silently when another session of the
subject has every required modality; a subject where no session has them all gets one problem line.

Optional modalities (``optional_modalities``): a (subject, session) may lack them; it is kept, its
row's fields of that modality are "" and, with sessions, a session with every required modality
is complete. One it has is checked as any other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from neuropeft.atomic import write_json
from neuropeft.bids.checks import check_dwi, check_json, check_t1w
from neuropeft.bids.ids import id_problem
from neuropeft.bids.layout import (
    KINDS,
    DatasetScan,
    FileStat,
    Filters,
    Images,
    SessionFiles,
    parse_filters,
    parse_run_policy,
    scan_dataset,
    select_images,
    sidecar,
)
from neuropeft.bids.participants import Participants, read_participants, target_kind
from neuropeft.bids.problems import Problem, format_problems
from neuropeft.choices import look_up_options
from neuropeft.errors import NeuropeftError
from neuropeft.modalities import check_optional

__all__ = ["Cohort", "Problem", "format_problems", "load_cohort", "ROW_COLUMNS", "EXCLUDED_COLUMNS"]

CACHE_VERSION = 2
MODALITIES = ("dwi", "t1w")
#: the JSON sidecar columns hold every applicable sidecar, root first, joined by ";" (later ones override)
ROW_COLUMNS = [
    "participant_id",
    "session",
    "key",
    "stem",
    "t1w",
    "dwi",
    "bval",
    "bvec",
    "t1w_json",
    "dwi_json",
    "target",
    "site",
]
EXCLUDED_COLUMNS = ["participant_id", "session", "reason"]


@dataclass
class Cohort:
    """Validated (subject, session) rows, every problem found, and what was excluded and why."""

    rows: pd.DataFrame  # ROW_COLUMNS; only rows without problems; paths absolute ("" when absent)
    problems: list[Problem]
    excluded: pd.DataFrame  # EXCLUDED_COLUMNS; one row per excluded (participant, session)
    target_kind: str  # binary | multiclass | continuous (of the included rows' targets)

    def summary(self) -> str:
        """``N of M subjects excluded``, plus the excluded sessions of the subjects kept, if any."""
        kept = set(self.rows.participant_id)
        subjects = kept | set(self.excluded.participant_id)
        text = f"{len(subjects - kept)} of {len(subjects)} subjects excluded"
        sessions = int(self.excluded.participant_id.isin(kept).sum())
        return text + (f" (and {sessions} session(s) of the subjects kept)" if sessions else "")


def _code_signature() -> list[str]:
    here = Path(__file__).parent
    return sorted(f"{p.name}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for p in here.glob("*.py"))


def _fingerprint(scan: DatasetScan, arguments: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, arguments, _code_signature()]).encode())
    participants = scan.root / "participants.tsv"
    digest.update(participants.read_bytes() if participants.is_file() else b"<no participants.tsv>")
    digest.update("\n".join(scan.signature_lines()).encode())
    return digest.hexdigest()


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _signature(stat: FileStat | None) -> str:
    return f"{stat.rel}:{stat.size}:{stat.mtime_ns}" if stat else "absent"


def _reason(problem: Problem, root: Path) -> str:
    """A problem as an exclusion reason: file problems start with the path inside the dataset."""
    prefix = f"{root}{os.sep}"
    if problem.path_or_subject.startswith(prefix):
        return f"{problem.path_or_subject[len(prefix) :]}: {problem.message}"
    return problem.message


class _Validator:
    """Runs the checks of one cache miss, reusing cached header checks of unchanged files."""

    def __init__(self, scan: DatasetScan, previous_checks: dict[str, list[list[str]]]) -> None:
        self.root = scan.root
        self.stats = scan.all_files()
        self.previous = previous_checks
        self.checks: dict[str, list[list[str]]] = {}

    def cached(self, key: str, run: Callable[[], list[Problem]]) -> list[Problem]:
        if key not in self.previous:
            self.previous[key] = [list(p) for p in run()]
        self.checks[key] = self.previous[key]
        return [Problem(*p) for p in self.checks[key]]

    def t1w(self, rel: str) -> list[Problem]:
        key = "t1w|" + _signature(self.stats.get(rel))
        return self.cached(key, lambda: check_t1w(self.root / rel))

    def dwi(self, rel: str, bval: str, bvec: str) -> list[Problem]:
        key = "dwi|" + "|".join(_signature(self.stats.get(r)) + f"@{r}" for r in (rel, bval, bvec))
        return self.cached(key, lambda: check_dwi(self.root / rel, self.root / bval, self.root / bvec))

    def json(self, rels: list[str]) -> list[Problem]:
        return [
            p
            for rel in rels
            for p in self.cached("json|" + _signature(self.stats.get(rel)), lambda rel=rel: check_json(self.root / rel))
        ]


#: how an acquisition without acq-/dir-/... entities is named in messages
_NO_ENTITY = "no acq-/dir- entity"


def _label(modality: str) -> str:
    return {"t1w": "T1w", "dwi": "DWI"}[modality]


def _filter_note(modality: str, images: Images, filters: Filters) -> str:
    """`` matching bids_filters.dwi {...} (found: acq-x)`` when the filters left nothing, else ""."""
    if modality not in images.found:
        return ""
    found = ", ".join(label or _NO_ENTITY for label in images.found[modality])
    return f" matching bids_filters.{modality} {filters[modality]} (found: {found})"


def _check_session(
    item: SessionFiles, images: Images, key: str, arguments: dict[str, Any], listed: set[str], validator: _Validator
) -> list[Problem]:
    """The problems of one (subject, session) folder, whose images are chosen."""
    root, modalities, stem = validator.root, arguments["modalities"], key.replace("/", "_")
    optional = set(arguments.get("optional_modalities", []))
    found: list[Problem] = []
    for value, prefix, path in ((item.subject, "sub", item.subject), (item.session, "ses", key)):
        reason = id_problem(value, prefix) if value else None
        if reason:
            found.append(Problem(str(root / path), reason))
    if item.subject not in listed:
        found.append(
            Problem(
                key,
                f"has images but no row in participants.tsv; add a row for {item.subject} (with its target) or remove the folder",
            )
        )
    found += [Problem(str(root / rel), message) for rel, message in images.problems]
    if "t1w" in modalities and (images.t1w or "t1w" not in optional):
        if images.t1w:
            found += validator.t1w(images.t1w) + validator.json(images.json["t1w"])
        else:
            note = _filter_note("t1w", images, arguments["bids_filters"])
            found.append(
                Problem(
                    key,
                    f"has no T1w image{note} (expected {key}/anat/{stem}_T1w.nii.gz); add it or remove 't1w' from modalities",
                )
            )
    if "dwi" in modalities and (images.dwi or "dwi" not in optional):
        if images.dwi:
            found += validator.dwi(
                images.dwi, images.bval or sidecar(images.dwi, ".bval"), images.bvec or sidecar(images.dwi, ".bvec")
            )
            found += validator.json(images.json["dwi"])
        else:
            note = _filter_note("dwi", images, arguments["bids_filters"])
            found.append(
                Problem(
                    key,
                    f"has no DWI{note} (expected {key}/dwi/{stem}_dwi.nii.gz with .bval and .bvec); add it or remove 'dwi' from modalities",
                )
            )
    return found


def _refuse_ambiguous(selected: list[tuple[SessionFiles, Images]], modalities: list[str]) -> None:
    """One line naming the acquisitions to choose from when a session has several of a needed modality."""
    for modality in modalities:
        where = [(item, images.ambiguous[modality]) for item, images in selected if modality in images.ambiguous]
        if not where:
            continue
        choices = sorted({label for _, labels in where for label in labels})
        first = where[0][0]
        example = next(label for label in choices if label).split("_")[0].replace("-", ": ", 1)
        raise NeuropeftError(
            f"{len(where)} (subject, session) have several {_label(modality)} acquisitions (e.g. {first.subject}"
            f"{'/' + first.session if first.session else ''}); choices: {', '.join(label or f'({_NO_ENTITY})' for label in choices)}; "
            f"choose one with bids_filters, e.g. bids_filters: {{{modality}: {{{example}}}}} (null selects files without that entity)"
        )


def _no_complete_session(selected: list[tuple[SessionFiles, Images]], modalities: list[str], filters: Filters) -> str:
    """Why no session of a subject (with sessions) has every required modality."""
    where = {m: [item.session for item, images in selected if m in images.present] for m in modalities}
    sessions = ", ".join(item.session for item, _ in selected)
    missing = [m for m in modalities if not where[m]]
    if missing:
        found = {m: sorted({a for _, images in selected for a in images.found.get(m, [])}) for m in missing}
        what = " and no ".join(
            _label(m) + (f" matching bids_filters.{m} {filters[m]}" if found[m] else "") for m in missing
        )
        seen = "; ".join(
            f"found {_label(m)}: {', '.join(a or _NO_ENTITY for a in found[m])}" for m in missing if found[m]
        )
        fix = "change bids_filters, add it" if seen else "add it"
        return f"has no {what} in any session ({sessions}{'; ' + seen if seen else ''}); {fix} or remove it from modalities"
    spread = "; ".join(f"{_label(m)} in {', '.join(where[m])}" for m in modalities)
    return f"has no session with {' and '.join(_label(m) for m in modalities)} together ({spread}); a row needs them all in one session, or fewer modalities"


def _row(item: SessionFiles, images: Images, key: str, root: Path, participants: Participants) -> dict[str, str]:
    """The cohort table row of a valid (subject, session): absolute paths ("" when absent)."""
    paths = {
        name: str(root / getattr(images, name)) if getattr(images, name) else ""
        for name in ("t1w", "dwi", "bval", "bvec")
    }
    jsons = {f"{m}_json": ";".join(str(root / rel) for rel in images.json.get(m, [])) for m in KINDS}
    return {
        "participant_id": item.subject,
        "session": item.session,
        "key": key,
        "stem": key.replace("/", "_"),
        **paths,
        **jsons,
        "target": participants.targets[item.subject],
        "site": participants.sites[item.subject],
    }


def _validate(
    scan: DatasetScan, arguments: dict[str, Any], previous_checks: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate the dataset; returns (result as plain data, header-check cache)."""
    root, modalities = scan.root, arguments["modalities"]
    required = [m for m in modalities if m not in arguments.get("optional_modalities", [])]
    participants = read_participants(
        root / "participants.tsv",
        arguments["target"],
        arguments["site_column"],
        arguments.get("event_column", ""),
        arguments.get("covariates", []),
    )
    validator = _Validator(scan, previous_checks)
    problems: list[Problem] = []
    subject_reasons: dict[str, list[str]] = defaultdict(list)
    for pid, message in participants.problems:
        problems.append(Problem(pid, message))
        subject_reasons[pid].append(message)
    by_subject: dict[str, list[tuple[SessionFiles, Images]]] = defaultdict(list)
    for item in scan.sessions:
        by_subject[item.subject].append((item, select_images(item, arguments["run_policy"], arguments["bids_filters"])))
    _refuse_ambiguous([pair for pairs in by_subject.values() for pair in pairs], modalities)
    rows, excluded = [], []
    for subject, selected in by_subject.items():
        if any(item.session for item, _ in selected):  # sessions lacking a modality are skipped silently
            complete = [
                (item, images)
                for item, images in selected
                if set(required) <= images.present or id_problem(item.session, "ses")
            ]  # a bad label is reported
            if not complete:
                message = _no_complete_session(selected, required, arguments["bids_filters"])
                problems.append(Problem(subject, message))
                excluded.append([subject, "", " | ".join(subject_reasons.get(subject, []) + [message])])
                continue
            selected = complete
        for item, images in selected:
            key = item.subject + (f"/{item.session}" if item.session else "")
            found = _check_session(item, images, key, arguments, participants.listed, validator)
            problems += found
            reasons = subject_reasons.get(item.subject, []) + [_reason(p, root) for p in found]
            if reasons:
                excluded.append([item.subject, item.session, " | ".join(reasons)])
            else:
                rows.append(_row(item, images, key, root, participants))
    for pid in sorted(participants.listed - set(by_subject)):
        reasons = list(subject_reasons.get(pid, []))
        if pid in participants.targets:
            message = (
                f"is in participants.tsv but has no folder {pid}/ in the dataset; add its images or remove the row"
            )
            problems.append(Problem(pid, message))
            reasons.append(message)
        excluded.append([pid, "", " | ".join(reasons)])
    excluded.sort(key=lambda row: (row[0], row[1]))
    result = {
        "rows": rows,
        "problems": [list(p) for p in problems],
        "excluded": excluded,
        "target_kind": target_kind(row["target"] for row in rows),
    }
    return result, validator.checks


def _cohort(result: dict[str, Any]) -> Cohort:
    return Cohort(
        rows=pd.DataFrame(result["rows"], columns=ROW_COLUMNS, dtype=str),
        problems=[Problem(*p) for p in result["problems"]],
        excluded=pd.DataFrame(result["excluded"], columns=EXCLUDED_COLUMNS, dtype=str),
        target_kind=result["target_kind"],
    )


def load_cohort(
    bids_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    target: str,
    modalities: Sequence[str],
    site_column: str = "site",
    run_policy: str = "last",
    bids_filters: Mapping[str, Any] | None = None,
    event_column: str = "",
    covariates: Sequence[str] = (),
    optional_modalities: Sequence[str] = (),
) -> Cohort:
    """Index and validate ``bids_dir`` (cached in ``cache_dir``); see the module docstring.

    With ``event_column`` (``task: survival``) each row's target is its time-to-event outcome; a row
    without a value in one of ``covariates`` (the experiments' clinical covariates) is excluded. A
    row may lack the ``optional_modalities`` (a subset of ``modalities``, leaving one required).

    Fatal problems (no dataset folder, no participants.tsv, no participant_id or target column, bad
    arguments) raise :class:`NeuropeftError`; all others are returned in ``Cohort.problems`` and the
    affected (subject, session) rows are moved to ``Cohort.excluded``.
    """
    if not modalities:
        raise NeuropeftError(f"modalities is empty; use one or both of {list(MODALITIES)}")
    look_up_options(modalities, MODALITIES, "modalities entry")
    check_optional(modalities, optional_modalities)
    root = Path(os.path.abspath(bids_dir))
    arguments = {
        "root": str(root),
        "target": target,
        "modalities": sorted(set(modalities)),
        "site_column": site_column,
        "run_policy": parse_run_policy(run_policy),
        "bids_filters": parse_filters(bids_filters),
    }
    if event_column:  # only then: the cache names of other datasets stay as they were
        arguments["event_column"] = event_column
    if covariates:
        arguments["covariates"] = sorted(set(covariates))
    if optional_modalities:
        arguments["optional_modalities"] = sorted(set(optional_modalities))
    scan = scan_dataset(root)
    fingerprint = _fingerprint(scan, arguments)
    name = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:16]
    cache_file = Path(cache_dir) / f"bids-index-{name}.json"
    cached = _read_cache(cache_file)
    if cached.get("fingerprint") == fingerprint and "result" in cached:
        return _cohort(cached["result"])
    result, checks = _validate(scan, arguments, dict(cached.get("checks", {})))
    write_json(cache_file, {"fingerprint": fingerprint, "arguments": arguments, "result": result, "checks": checks})
    return _cohort(result)
