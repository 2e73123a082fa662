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
