"""Shared fixtures: the tiny demo cohort, generated once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from neuropeft.demo.cohort import make_demo_cohort
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
    return DemoCohort(root=root, bids=root / "bids", truth=root / "truth", subjects=subjects, settings=settings)
