"""Write outputs under a temporary name and rename, so nothing is left half-written."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only on success.

    The temporary name keeps the final suffixes (``.nii.gz``, ``.tsv``) so writers that look at
    the extension behave the same.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name.split('.')[0]}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def save_nifti(img: Any, path: str | os.PathLike[str], compresslevel: int | None = None) -> None:
    """Atomically save a nibabel image; ``compresslevel`` (0-9) sets a ``.nii.gz``'s gzip level
    (default: nibabel's, 1). Level 0 writes gzip's stored blocks: still a valid ``.nii.gz``, for
    data gzip cannot shrink (noisy float32) at the cost of a copy instead of a compression."""
    import nibabel as nib

    with atomic_path(path) as tmp:
        if compresslevel is None or not str(path).endswith(".gz"):
            nib.save(img, str(tmp))
        else:
            with gzip.open(tmp, "wb", compresslevel=compresslevel) as stream:
                stream.write(img.to_bytes())


def write_tsv(frame: Any, path: str | os.PathLike[str]) -> None:
    """Atomically write a pandas DataFrame as a tab-separated table without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)
