"""Find a BIDS dataset's images with ``os.scandir`` only (no file is opened).

Layout read: ``sub-<label>/[ses-<label>/]anat/*_T1w.nii[.gz]`` and
``sub-<label>/[ses-<label>/]dwi/*_dwi.nii[.gz]`` with ``.bval``/``.bvec`` of the same name beside it.
Other entities (``acq-``, ``dir-``, ``rec-``, ...) are allowed. When a (subject, session) has several
candidate images of one kind, the run policy picks one:

* ``last`` (default): the highest ``run-`` index (a file without ``run-`` counts as run 0);
* ``first``: the lowest;
* an integer ``N``: the file with ``run-N`` (a problem when there is none).

Candidates with the same run index (e.g. ``acq-AP`` and ``acq-PA``) are ordered by file name and the
first is taken, so the choice is deterministic; the chosen paths are listed in the cohort table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from neuropeft.errors import NeuropeftError

#: file endings kept by the scan (everything else is irrelevant to the cohort)
_ENDINGS = (".nii.gz", ".nii", ".bval", ".bvec")
_DATATYPES = ("anat", "dwi")


@dataclass(frozen=True)
class FileStat:
    """One file: path relative to the dataset root ('/'-separated), size (-1: broken link), mtime."""

    rel: str
    size: int
    mtime_ns: int


@dataclass
class SessionFiles:
    """The relevant files of one (subject, session); ``session`` is "" when there are no sessions."""

    subject: str
    session: str
    files: dict[str, list[FileStat]] = field(default_factory=dict)  # datatype -> files


@dataclass
class DatasetScan:
    """Everything the cohort depends on, found by one directory walk."""

    root: Path
    participants: FileStat | None
    sessions: list[SessionFiles]

    def signature_lines(self) -> list[str]:
        """Sorted ``path size mtime_ns`` lines (plus empty folders), the dataset's fingerprint."""
        lines = [f"{s.subject}/{s.session}/" for s in self.sessions]
        for item in self.sessions:
            lines += [f"{f.rel}\t{f.size}\t{f.mtime_ns}" for files in item.files.values() for f in files]
        return sorted(lines)


@dataclass
class Images:
    """The files chosen for one (subject, session), relative to the root ("" when absent)."""

    subject: str
    session: str
    t1w: str = ""
    dwi: str = ""
    bval: str = ""
    bvec: str = ""
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)


def parse_run_policy(policy: str | int) -> str | int:
    """``"last"``, ``"first"`` or a run index (int); anything else is a user error."""
    text = str(policy).strip()
    if text in ("last", "first"):
        return text
    if text.isdigit():
        return int(text)
    raise NeuropeftError(f"run_policy {policy!r} is not valid; use 'last', 'first' or a run number such as 1")


def _stat(entry: os.DirEntry[str]) -> tuple[int, int]:
    try:
        st = entry.stat()  # follows symlinks (datalad / git-annex datasets are symlinks)
    except FileNotFoundError:
        return -1, 0
    return st.st_size, st.st_mtime_ns


def _scan_datatypes(folder: str, prefix: str) -> dict[str, list[FileStat]]:
    found: dict[str, list[FileStat]] = {}
    with os.scandir(folder) as entries:
        dirs = [e for e in entries if e.name in _DATATYPES and e.is_dir()]
    for datatype_dir in dirs:
        with os.scandir(datatype_dir.path) as entries:
            files = [
                FileStat(f"{prefix}/{datatype_dir.name}/{f.name}", *_stat(f))
                for f in entries
                if f.name.endswith(_ENDINGS) and not f.is_dir()
            ]
        found[datatype_dir.name] = sorted(files, key=lambda f: f.rel)
    return found


def scan_dataset(root: str | os.PathLike[str]) -> DatasetScan:
    """Walk ``root`` (participants.tsv, subject and session folders, anat/ and dwi/ files)."""
    root = Path(root)
    if not root.is_dir():
        raise NeuropeftError(f"BIDS folder {root} does not exist; set bids_dir to your dataset's root folder")
    participants = None
    sessions: list[SessionFiles] = []
    with os.scandir(root) as entries:
        top = sorted(entries, key=lambda e: e.name)
    for entry in top:
        if entry.name == "participants.tsv":
            participants = FileStat(entry.name, *_stat(entry))
        elif entry.name.startswith("sub-") and entry.is_dir():
            with os.scandir(entry.path) as children:
                ses_dirs = sorted((c for c in children if c.name.startswith("ses-") and c.is_dir()), key=lambda c: c.name)
            direct = _scan_datatypes(entry.path, entry.name)
            if direct or not ses_dirs:
                sessions.append(SessionFiles(entry.name, "", direct))
            for ses in ses_dirs:
                sessions.append(SessionFiles(entry.name, ses.name, _scan_datatypes(ses.path, f"{entry.name}/{ses.name}")))
    return DatasetScan(root, participants, sessions)


def parse_name(name: str) -> tuple[dict[str, str], str, str] | None:
    """Split a BIDS file name into (entities, suffix, extension), or None when it is not one."""
    stem, dot, ext = name.partition(".")
    parts = stem.split("_")
    entities: dict[str, str] = {}
    for part in parts[:-1]:
        key, dash, value = part.partition("-")
        if not dash or not key or key in entities:
            return None
        entities[key] = value
    return entities, parts[-1], dot + ext


def _choose(candidates: list[tuple[FileStat, dict[str, str]]], policy: str | int, what: str, where: str) -> tuple[str, list[tuple[str, str]]]:
    """Pick one candidate by the run policy; returns (relative path or "", problems)."""
    problems: list[tuple[str, str]] = []
    runs: list[tuple[int, FileStat]] = []
    for stat, entities in candidates:
        run = entities.get("run", "0")
        if not run.isdigit():
            problems.append((stat.rel, f"run index 'run-{run}' is not a number; rename the file with run-<number>"))
            continue
        runs.append((int(run), stat))
    if not runs:
        return "", problems
    if len(runs) == 1:
        return runs[0][1].rel, problems
    runs.sort(key=lambda item: item[1].rel)
    if policy == "last":
        best = max(run for run, _ in runs)
    elif policy == "first":
        best = min(run for run, _ in runs)
    else:
        best = int(policy)
    chosen = [stat for run, stat in runs if run == best]
    if not chosen:
        found = ", ".join(str(run) for run in sorted({run for run, _ in runs}))
        problems.append((where, f"has no {what} with run-{best} (runs found: {found}); set run_policy to one of them, 'last' or 'first'"))
        return "", problems
    return chosen[0].rel, problems


def sidecar(nifti: str, extension: str) -> str:
    """The path of a NIfTI's sidecar: ``x_dwi.nii.gz`` -> ``x_dwi.bval`` for ``extension=".bval"``."""
    base = nifti[: -len(".nii.gz")] if nifti.endswith(".nii.gz") else nifti[: -len(".nii")]
    return base + extension


def select_images(item: SessionFiles, policy: str | int) -> Images:
    """Choose the T1w and the DWI (with its .bval/.bvec) of one (subject, session)."""
    where = item.subject + (f"/{item.session}" if item.session else "")
    images = Images(item.subject, item.session)
    wanted = {"anat": "T1w", "dwi": "dwi"}
    for datatype, suffix in wanted.items():
        candidates = []
        for stat in item.files.get(datatype, []):
            parsed = parse_name(stat.rel.rsplit("/", 1)[1])
            if parsed is None or parsed[1] != suffix or parsed[2] not in (".nii", ".nii.gz"):
                continue
            entities = parsed[0]
            expected = {"sub": item.subject[4:]} | ({"ses": item.session[4:]} if item.session else {})
            actual = {key: entities.get(key) for key in expected}
            if actual != expected:
                start = "_".join(f"{k}-{v}" for k, v in expected.items())
                images.problems.append((stat.rel, f"file name does not match its folder {where}; rename it to start with {start}_"))
                continue
            candidates.append((stat, entities))
        chosen, problems = _choose(candidates, policy, suffix, where)
        images.problems += problems
        if datatype == "anat":
            images.t1w = chosen
        elif chosen:
            images.dwi = chosen
            present = {stat.rel for stat in item.files.get("dwi", [])}
            images.bval = sidecar(chosen, ".bval") if sidecar(chosen, ".bval") in present else ""
            images.bvec = sidecar(chosen, ".bvec") if sidecar(chosen, ".bvec") in present else ""
    return images
