"""Versions of the software that produced a result, recorded beside it."""

from __future__ import annotations

import importlib.metadata
import platform


def package_versions(*packages: str) -> dict[str, str]:
    """Python's and each installed package's version ("missing" when a package is absent)."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def source_revision() -> dict[str, object]:
    """The git commit of neuropeft's source and whether it has uncommitted changes to tracked files
    (``commit: unknown`` outside a git checkout, e.g. an installed wheel)."""
    import subprocess
    from pathlib import Path

    where = str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": False}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
