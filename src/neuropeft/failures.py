"""Per-subject failure records: what failed, where, and whether the record still applies.

When a per-subject step stops with a one-line error (:class:`NeuropeftError`: bad data, not a bug),
the command line writes ``{results}/failures/{stem}/{rule}.json`` (``--failure-record``) and deletes
it when that step later succeeds.  At parse time the workflow reads the records that still apply
(:func:`current_failures`) and, under ``on_subject_failure: drop``, leaves those subjects out of the
cohort steps (:func:`drop_failed`).  A record stops applying when the subject's raw files change
after it was written, or when the failed step's settings change: the subject is then tried again.

Import-light on purpose: the Snakefile calls this at every parse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from neuropeft.atomic import write_json
from neuropeft.errors import NeuropeftError

#: the raw-file fields of a subject record (see ``neuropeft.workflow.subject_table``)
RAW_FIELDS = ("t1w", "dwi", "bval", "bvec")
#: ``on_subject_failure``: drop (the next run goes on without subjects whose steps failed on their data) or stop
ON_SUBJECT_FAILURE = ("drop", "stop")
#: the columns of a failure as the workflow passes it on (and of ``failures.tsv``)
FAILURE_FIELDS = ("participant_id", "session", "stem", "step", "reason")


def write_failure_record(path: str | os.PathLike[str], command: str, reason: str, settings: str) -> None:
    """Record that ``command`` failed with ``reason`` under ``settings`` (the step's ``--settings`` text)."""
    write_json(path, {"command": command, "reason": reason, "settings": settings})


def clear_failure_record(path: str | os.PathLike[str]) -> None:
    """Forget an earlier failure of this step (it has just succeeded)."""
    Path(path).unlink(missing_ok=True)


def current_failures(
    failures_dir: str | os.PathLike[str], subjects: list[dict[str, str]], step_settings: dict[str, str]
) -> list[dict[str, str]]:
    """The failures under ``failures_dir`` that still apply to ``subjects``, sorted by stem and step.

    ``step_settings`` maps each per-subject rule to its current ``--settings`` text; a record made
    under other settings, for a rule not listed, for a subject not in ``subjects``, or older than
    one of the subject's raw files no longer applies.
    """
    root = Path(failures_dir)
    if not root.is_dir():
        return []
    by_stem = {s["stem"]: s for s in subjects}
    failures = []
    for folder in sorted(root.iterdir()):
        subject = by_stem.get(folder.name)
        if subject is None or not folder.is_dir():
            continue
        for record_path in sorted(folder.glob("*.json")):
            record = _read_record(record_path)
            step = record_path.stem
            if record is None or step not in step_settings or record.get("settings") != step_settings[step]:
                continue
            if _raw_files_changed_since(subject, record_path.stat().st_mtime_ns):
                continue
            failures.append(
                {
                    "participant_id": subject["participant_id"],
                    "session": subject.get("session", ""),
                    "stem": folder.name,
                    "step": step,
                    "reason": str(record.get("reason", "")),
                }
            )
    return failures


def drop_failed(
    subjects: list[dict[str, str]], failures: list[dict[str, str]], max_fraction: float, failures_dir: str
) -> list[dict[str, str]]:
    """``subjects`` without those that failed; refuses when more than ``max_fraction`` of them failed."""
    failed = {f["stem"] for f in failures}
    if subjects and len(failed) > max_fraction * len(subjects):
        raise NeuropeftError(
            f"{len(failed)} of {len(subjects)} subjects failed a step (records in {failures_dir}/), more than "
            f"max_failed_fraction {max_fraction:g}; fix the common cause (see the records' reasons) or raise max_failed_fraction"
        )
    return [s for s in subjects if s["stem"] not in failed]


def failure_summary(failures: list[dict[str, str]], policy: str, table: str) -> str:
    """Lines for the user after a failed run: each failed subject's step and reason, then what to do
    (``table``: where the next run lists the subjects it leaves out)."""
    if not failures:
        return ""
    lines = [f"neuropeft: {len(failures)} subject step(s) failed on the data:"]
    lines += [f"  {f['stem']} at {f['step']}: {f['reason']}" for f in failures]
    if policy == "drop":
        lines.append(
            "neuropeft: on_subject_failure is drop: run the same command again to go on without these "
            f"subjects (listed with their reasons in {table} and the report)"
        )
    else:
        lines.append(
            "neuropeft: on_subject_failure is stop: fix these subjects' data (or exclude them), "
            "or set on_subject_failure: drop to go on without them"
        )
    return "\n".join(lines)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _raw_files_changed_since(subject: dict[str, str], mtime_ns: int) -> bool:
    for field in RAW_FIELDS:
        path = subject.get(field)
        if path and os.path.exists(path) and os.stat(path).st_mtime_ns > mtime_ns:
            return True
    return False
