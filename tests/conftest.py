"""Shared fixtures: the tiny demo cohort, generated once per test session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from neuropeft.demo.cohort import make_demo_cohort
from neuropeft.demo.layout import bids_root, truth_root
from neuropeft.demo.settings import DemoSettings


@dataclass(frozen=True)
class DemoCohort:
    """A generated demo cohort: ``root`` holds ``bids`` and ``truth``; ``subjects`` are "sub-XXX"."""

    root: Path
    bids: Path
    truth: Path
    subjects: list[str]
    settings: DemoSettings


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCohort:
    """The tiny demo cohort (``DemoSettings.tiny()``), shared by every test in the session."""
    settings = DemoSettings.tiny()
    root = tmp_path_factory.mktemp("tiny_demo")
    make_demo_cohort(root, settings)
    subjects = [f"sub-{i + 1:03d}" for i in range(settings.n_subjects)]
    return DemoCohort(root=root, bids=bids_root(root), truth=truth_root(root), subjects=subjects, settings=settings)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``shared/data/real`` (real scans with reference masks; ``NEUROPEFT_REAL_DATA`` moves it); skips when absent."""
    path = Path(os.environ.get("NEUROPEFT_REAL_DATA", "/work/shared/data/real"))
    if not (path / "ixi10").is_dir():
        pytest.skip(f"{path}/ixi10 is not here (set NEUROPEFT_REAL_DATA)")
    return path
