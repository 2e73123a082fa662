"""The validated cohort of a BIDS dataset, cached so that Snakefile parsing stays cheap.

``load_cohort`` walks the dataset with ``os.scandir`` (names, sizes, mtimes; nothing is opened but
participants.tsv) and compares a fingerprint of that walk, participants.tsv's bytes, the call's
arguments and this package's code with the cache in ``cache_dir``. On a hit the stored result is
returned. On a miss the dataset is validated again; header checks of files whose (path, size,
mtime) are unchanged are reused from the previous cache, so adding one subject re-reads one subject.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from neuropeft.atomic import write_json
from neuropeft.bids.checks import check_dwi, check_t1w
from neuropeft.bids.ids import id_problem
from neuropeft.bids.layout import DatasetScan, FileStat, Images, SessionFiles, parse_run_policy, scan_dataset, select_images, sidecar
from neuropeft.bids.participants import read_participants, target_kind
from neuropeft.bids.problems import Problem, format_problems
from neuropeft.errors import NeuropeftError

__all__ = ["Cohort", "Problem", "format_problems", "load_cohort", "ROW_COLUMNS", "EXCLUDED_COLUMNS"]

CACHE_VERSION = 1
MODALITIES = ("dwi", "t1w")
ROW_COLUMNS = ["participant_id", "session", "key", "stem", "t1w", "dwi", "bval", "bvec", "target", "site"]
EXCLUDED_COLUMNS = ["participant_id", "session", "reason"]


@dataclass
class Cohort:
    """Validated (subject, session) rows, every problem found, and what was excluded and why."""

    rows: pd.DataFrame  # ROW_COLUMNS; only rows without problems; paths absolute ("" when absent)
    problems: list[Problem]
    excluded: pd.DataFrame  # EXCLUDED_COLUMNS; one row per excluded (participant, session)
    target_kind: str  # binary | multiclass | continuous (of the included rows' targets)


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
        return f"{problem.path_or_subject[len(prefix):]}: {problem.message}"
    return problem.message


class _Validator:
    """Runs the checks of one cache miss, reusing cached header checks of unchanged files."""

    def __init__(self, scan: DatasetScan, previous_checks: dict[str, list[list[str]]]) -> None:
        self.root = scan.root
        self.stats = {f.rel: f for item in scan.sessions for files in item.files.values() for f in files}
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


def _check_session(
    item: SessionFiles, key: str, stem: str, arguments: dict[str, Any], listed: set[str], validator: _Validator
) -> tuple[list[Problem], Images]:
    """The problems of one (subject, session) folder and the images chosen in it."""
    root, modalities = validator.root, arguments["modalities"]
    found: list[Problem] = []
    for value, prefix, path in ((item.subject, "sub", item.subject), (item.session, "ses", key)):
        reason = id_problem(value, prefix) if value else None
        if reason:
            found.append(Problem(str(root / path), reason))
    if item.subject not in listed:
        found.append(Problem(key, f"has images but no row in participants.tsv; add a row for {item.subject} (with its target) or remove the folder"))
    images = select_images(item, arguments["run_policy"])
    found += [Problem(str(root / rel), message) for rel, message in images.problems]
    if "t1w" in modalities:
        if images.t1w:
            found += validator.t1w(images.t1w)
        else:
            found.append(Problem(key, f"has no T1w image (expected {key}/anat/{stem}_T1w.nii.gz); add it or remove 't1w' from modalities"))
    if "dwi" in modalities:
        if images.dwi:
            found += validator.dwi(images.dwi, images.bval or sidecar(images.dwi, ".bval"), images.bvec or sidecar(images.dwi, ".bvec"))
        else:
            found.append(Problem(key, f"has no DWI (expected {key}/dwi/{stem}_dwi.nii.gz with .bval and .bvec); add it or remove 'dwi' from modalities"))
    return found, images


def _validate(scan: DatasetScan, arguments: dict[str, Any], previous_checks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate the dataset; returns (result as plain data, header-check cache)."""
    root = scan.root
    participants = read_participants(root / "participants.tsv", arguments["target"], arguments["site_column"])
    validator = _Validator(scan, previous_checks)
    problems: list[Problem] = []
    subject_reasons: dict[str, list[str]] = defaultdict(list)
    for pid, message in participants.problems:
        problems.append(Problem(pid, message))
        subject_reasons[pid].append(message)
    rows, excluded = [], []
    folders = {item.subject for item in scan.sessions}
    for item in scan.sessions:
        key = item.subject + (f"/{item.session}" if item.session else "")
        stem = key.replace("/", "_")
        found, images = _check_session(item, key, stem, arguments, participants.listed, validator)
        problems += found
        reasons = subject_reasons.get(item.subject, []) + [_reason(p, root) for p in found]
        if reasons:
            excluded.append([item.subject, item.session, " | ".join(reasons)])
            continue
        paths = {name: str(root / getattr(images, name)) if getattr(images, name) else "" for name in ("t1w", "dwi", "bval", "bvec")}
        rows.append({"participant_id": item.subject, "session": item.session, "key": key, "stem": stem, **paths,
                     "target": participants.targets[item.subject], "site": participants.sites[item.subject]})
    for pid in sorted(participants.listed - folders):
        reasons = list(subject_reasons.get(pid, []))
        if pid in participants.targets:
            message = f"is in participants.tsv but has no folder {pid}/ in the dataset; add its images or remove the row"
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
) -> Cohort:
    """Index and validate ``bids_dir`` (cached in ``cache_dir``); see the module docstring.

    Fatal problems (no dataset folder, no participants.tsv, no participant_id or target column, bad
    arguments) raise :class:`NeuropeftError`; all others are returned in ``Cohort.problems`` and the
    affected (subject, session) rows are moved to ``Cohort.excluded``.
    """
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise NeuropeftError(f"modalities {list(modalities)} are not valid; use one or both of {list(MODALITIES)}")
    root = Path(os.path.abspath(bids_dir))
    arguments = {
        "root": str(root),
        "target": target,
        "modalities": sorted(set(modalities)),
        "site_column": site_column,
        "run_policy": parse_run_policy(run_policy),
    }
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
