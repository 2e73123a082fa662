"""Fixtures of the BIDS tests: a valid tiny dataset builder and a cache folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bids.bids_builder import Bids


@pytest.fixture
def make_bids(tmp_path: Path) -> Callable[..., Bids]:
    """``make_bids(n)``: a valid dataset of ``n`` subjects sub-01.. (diagnosis 0/1, site A/B)."""

    def make(n: int = 3, name: str = "bids") -> Bids:
        bids = Bids(tmp_path / name)
        subjects = [f"sub-{i:02d}" for i in range(1, n + 1)]
        bids.participants(
            [
                {"participant_id": s, "diagnosis": i % 2, "age": 40 + i, "site": "AB"[i % 2]}
                for i, s in enumerate(subjects)
            ]
        )
        for sub in subjects:
            bids.subject(sub)
        return bids

    return make


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty cache folder."""
    return tmp_path / "cache"
