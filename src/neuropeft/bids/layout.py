"""Find a BIDS dataset's images with ``os.scandir`` only (no file is opened).

Layout read: ``sub-<label>/[ses-<label>/]anat/*_T1w.nii[.gz]`` and
``sub-<label>/[ses-<label>/]dwi/*_dwi.nii[.gz]``. Only ``sub-*`` folders and the files of the root
are walked, so ``derivatives/``, ``sourcedata/`` and ``code/`` are never read.

Sidecars (``.bval``, ``.bvec``, ``.json``) follow the BIDS inheritance principle: a sidecar in the
image's folder or any folder above it (session, subject, dataset root) applies when its suffix
matches the image's and its entities are a subset of the image's (``dwi.bval`` at the root applies to
every DWI, ``sub-01/sub-01_dwi.bval`` to every DWI of sub-01). Of one folder the sidecar with the
most entities applies; of several folders the closest one (``.bval``/``.bvec``), or all of them from
the root down, closer ones overriding (``.json``).

Other entities (``acq-``, ``dir-``, ``rec-``, ...) are allowed. When a (subject, session) has images
of one kind with different such entities (several acquisitions), the configured filters
(``bids_filters``, see :func:`parse_filters`) must leave one acquisition; otherwise the choice is
ambiguous. Among the runs of that acquisition the run policy picks one:

* ``last`` (default): the highest ``run-`` index (a file without ``run-`` counts as run 0);
* ``first``: the lowest;
* an integer ``N``: the file with ``run-N`` (a problem when there is none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError

#: sidecar endings: these files may sit in any folder above the image they describe
SIDECARS = (".bval", ".bvec", ".json")
#: file endings kept by the scan (everything else is irrelevant to the cohort)
_ENDINGS = (".nii.gz", ".nii") + SIDECARS
#: which run to use when a subject has several of an image (besides a run number)
RUN_POLICIES = ("last", "first")
#: modality -> (datatype folder, file suffix)
KINDS = {"t1w": ("anat", "T1w"), "dwi": ("dwi", "dwi")}
#: modality -> the sidecars resolved for its image
_MODALITY_SIDECARS = {"t1w": (".json",), "dwi": SIDECARS}
_DATATYPES = tuple(datatype for datatype, _ in KINDS.values())
#: entities that do not tell acquisitions apart (``run-`` is chosen by the run policy)
NOT_ACQUISITION = ("sub", "ses", "run")

Filters = dict[str, dict[str, str | None]]


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
    above: list[FileStat] = field(default_factory=list)  # sidecars in the root, subject and session folders


@dataclass
class DatasetScan:
    """Everything the cohort depends on, found by one directory walk."""

    root: Path
    participants: FileStat | None
    sessions: list[SessionFiles]

    def all_files(self) -> dict[str, FileStat]:
        """Every file found, by relative path (inherited sidecars once)."""
        found = {f.rel: f for item in self.sessions for f in item.above}
        found.update((f.rel, f) for item in self.sessions for files in item.files.values() for f in files)
        return found

    def signature_lines(self) -> list[str]:
        """Sorted ``path size mtime_ns`` lines (plus empty folders), the dataset's fingerprint."""
        lines = [f"{s.subject}/{s.session}/" for s in self.sessions]
        lines += [f"{f.rel}\t{f.size}\t{f.mtime_ns}" for f in self.all_files().values()]
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
    json: dict[str, list[str]] = field(default_factory=dict)  # modality -> JSON sidecars, root first
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)
    present: set[str] = field(default_factory=set)  # modalities with an image the filters keep (or a misnamed one)
    found: dict[str, list[str]] = field(default_factory=dict)  # modality -> acquisitions present (all filtered out)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # modality -> acquisitions left by the filters


def parse_run_policy(policy: str | int) -> str | int:
    """``"last"``, ``"first"`` or a run index (int); anything else is a user error."""
    text = str(policy).strip()
    if text.isdigit():
        return int(text)
    return look_up_option(text, RUN_POLICIES, "run_policy", hint="or give a run number such as 1")


def parse_filters(filters: Mapping[str, Any] | None) -> Filters:
    """Validate ``bids_filters``: modality -> {entity: value}; a value of None means "entity absent"."""
    parsed: Filters = {}
    for modality, wanted in (filters or {}).items():
        look_up_option(modality, KINDS, "bids_filters modality")
        if not isinstance(wanted, Mapping):
            raise NeuropeftError(
                f"bids_filters.{modality} must map entities to values, e.g. {{acq: b1000}}, not {wanted!r}"
            )
        parsed[modality] = {}
        for entity, value in wanted.items():
            if entity in NOT_ACQUISITION:
                raise NeuropeftError(
                    f"bids_filters.{modality} cannot filter on {entity!r}; choose runs with run_policy, or filter on acq, dir, rec ..."
                )
            if isinstance(value, (Mapping, list, bool)):
                raise NeuropeftError(
                    f"bids_filters.{modality}.{entity} must be a label such as AP (or null for files without {entity}-), not {value!r}"
                )
            parsed[modality][str(entity)] = None if value is None else str(value)
    return parsed


def _stat(entry: os.DirEntry[str]) -> tuple[int, int]:
    try:
        st = entry.stat()  # follows symlinks (datalad / git-annex datasets are symlinks)
    except FileNotFoundError:
        return -1, 0
    return st.st_size, st.st_mtime_ns


def _files(folder: str, prefix: str, endings: tuple[str, ...]) -> list[FileStat]:
    """The files of ``folder`` (not its subfolders) with one of ``endings``, sorted."""
    with os.scandir(folder) as entries:
        found = [
            FileStat(f"{prefix}{entry.name}", *_stat(entry))
            for entry in entries
            if entry.name.endswith(endings) and not entry.is_dir()
        ]
    return sorted(found, key=lambda f: f.rel)


def _scan_datatypes(folder: str, prefix: str) -> dict[str, list[FileStat]]:
    with os.scandir(folder) as entries:
        dirs = sorted((e for e in entries if e.name in _DATATYPES and e.is_dir()), key=lambda e: e.name)
    return {d.name: _files(d.path, f"{prefix}/{d.name}/", _ENDINGS) for d in dirs}


def _scan_subject(entry: os.DirEntry[str], root_sidecars: list[FileStat]) -> list[SessionFiles]:
    """The sessions of one subject folder (one with session "" when it has no ``ses-`` folders)."""
    with os.scandir(entry.path) as children:
        ses_dirs = sorted((c for c in children if c.name.startswith("ses-") and c.is_dir()), key=lambda c: c.name)
    above = root_sidecars + _files(entry.path, f"{entry.name}/", SIDECARS)
    direct = _scan_datatypes(entry.path, entry.name)
    sessions = [SessionFiles(entry.name, "", direct, above)] if direct or not ses_dirs else []
    for ses in ses_dirs:
        prefix = f"{entry.name}/{ses.name}"
        sidecars = _files(ses.path, f"{prefix}/", SIDECARS)
        sessions.append(SessionFiles(entry.name, ses.name, _scan_datatypes(ses.path, prefix), above + sidecars))
    return sessions


def scan_dataset(root: str | os.PathLike[str]) -> DatasetScan:
    """Walk ``root``: participants.tsv and sidecars of the root, subject and session folders, anat/ and dwi/."""
    root = Path(root)
    if not root.is_dir():
        raise NeuropeftError(f"BIDS folder {root} does not exist; set bids_dir to your dataset's root folder")
    participants = None
    sessions: list[SessionFiles] = []
    root_sidecars = _files(str(root), "", SIDECARS)
    with os.scandir(root) as entries:
        top = sorted(entries, key=lambda e: e.name)
    for entry in top:
        if entry.name == "participants.tsv":
            participants = FileStat(entry.name, *_stat(entry))
        elif entry.name.startswith("sub-") and entry.is_dir():
            sessions += _scan_subject(entry, root_sidecars)
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


def acquisition(entities: Mapping[str, str]) -> str:
    """The entities that tell acquisitions apart, as in a file name (``acq-AP_dir-PA``; "" when none)."""
    return "_".join(f"{key}-{value}" for key, value in entities.items() if key not in NOT_ACQUISITION)


def _matches(entities: Mapping[str, str], wanted: Mapping[str, str | None]) -> bool:
    return all(entities.get(key) == value for key, value in wanted.items())


def _choose(
    candidates: list[tuple[FileStat, dict[str, str]]], policy: str | int, what: str, where: str
) -> tuple[str, list[tuple[str, str]]]:
    """Pick one candidate (of one acquisition) by the run policy; returns (relative path or "", problems)."""
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
    if policy == "last":
        best = max(run for run, _ in runs)
    elif policy == "first":
        best = min(run for run, _ in runs)
    else:
        best = int(policy)
    chosen = sorted(stat.rel for run, stat in runs if run == best)
    if not chosen:
        found = ", ".join(str(run) for run in sorted({run for run, _ in runs}))
        problems.append(
            (
                where,
                f"has no {what} with run-{best} (runs found: {found}); set run_policy to one of them, 'last' or 'first'",
            )
        )
        return "", problems
    return chosen[0], problems


def sidecar(nifti: str, extension: str) -> str:
    """The path of a NIfTI's own sidecar: ``x_dwi.nii.gz`` -> ``x_dwi.bval`` for ``extension=".bval"``."""
    base = nifti[: -len(".nii.gz")] if nifti.endswith(".nii.gz") else nifti[: -len(".nii")]
    return base + extension


def inherited(image: str, extension: str, files: list[FileStat]) -> tuple[list[str], list[tuple[str, str]]]:
    """The sidecars with ``extension`` that apply to ``image``, root first (closest last), and problems.

    ``files`` are the files of the image's folder and of the folders above it.
    """
    parsed = parse_name(image.rsplit("/", 1)[1])
    if parsed is None:
        return [], []
    entities, suffix, _ = parsed
    by_folder: dict[str, list[tuple[int, str]]] = {}
    for stat in files:
        folder, _, name = stat.rel.rpartition("/")
        meta = parse_name(name)
        if meta is None or meta[1] != suffix or meta[2] != extension:
            continue
        if all(entities.get(key) == value for key, value in meta[0].items()):
            by_folder.setdefault(folder, []).append((len(meta[0]), stat.rel))
    chosen, problems = [], []
    for folder in sorted(by_folder, key=lambda f: (f.count("/") + bool(f), f)):
        ranked = sorted(by_folder[folder], reverse=True)
        if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
            tied = ", ".join(sorted(rel.rsplit("/", 1)[-1] for count, rel in ranked if count == ranked[0][0]))
            problems.append(
                (
                    image,
                    f"several {extension} files of one folder apply to it ({tied}); keep one, or add the entities that tell them apart",
                )
            )
        chosen.append(ranked[0][1])
    return chosen, problems


def _candidates(
    item: SessionFiles, datatype: str, suffix: str, images: Images
) -> list[tuple[FileStat, dict[str, str]]]:
    """The session's images of one kind whose names match their folder (the others are problems)."""
    where = item.subject + (f"/{item.session}" if item.session else "")
    expected = {"sub": item.subject[4:]} | ({"ses": item.session[4:]} if item.session else {})
    candidates = []
    for stat in item.files.get(datatype, []):
        parsed = parse_name(stat.rel.rsplit("/", 1)[1])
        if parsed is None or parsed[1] != suffix or parsed[2] not in (".nii", ".nii.gz"):
            continue
        if {key: parsed[0].get(key) for key in expected} != expected:
            start = "_".join(f"{k}-{v}" for k, v in expected.items())
            images.problems.append(
                (stat.rel, f"file name does not match its folder {where}; rename it to start with {start}_")
            )
            continue
        candidates.append((stat, parsed[0]))
    return candidates


def _add_sidecars(item: SessionFiles, modality: str, chosen: str, images: Images) -> None:
    """Resolve the chosen image's inherited sidecars into ``images``."""
    files = item.above + item.files.get(KINDS[modality][0], [])
    for extension in _MODALITY_SIDECARS[modality]:
        found, problems = inherited(chosen, extension, files)
        images.problems += problems
        if extension == ".json":
            images.json[modality] = found
        else:
            setattr(images, extension[1:], found[-1] if found else "")


def select_images(item: SessionFiles, policy: str | int, filters: Filters | None = None) -> Images:
    """Choose the T1w and the DWI (with their sidecars) of one (subject, session)."""
    where = item.subject + (f"/{item.session}" if item.session else "")
    images = Images(item.subject, item.session)
    for modality, (datatype, suffix) in KINDS.items():
        misnamed = len(images.problems)
        candidates = _candidates(item, datatype, suffix, images)
        kept = [c for c in candidates if _matches(c[1], (filters or {}).get(modality, {}))]
        if kept or len(images.problems) > misnamed:
            images.present.add(modality)
        labels = sorted({acquisition(entities) for _, entities in kept})
        if len(labels) > 1:
            images.ambiguous[modality] = labels
            continue
        if candidates and not kept:
            images.found[modality] = sorted({acquisition(entities) for _, entities in candidates})
        chosen, problems = _choose(kept, policy, suffix, where)
        images.problems += problems
        if chosen:
            setattr(images, modality, chosen)
            _add_sidecars(item, modality, chosen, images)
    return images
