"""Fixtures of the metrics tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.metrics.metrics_helpers import make_experiment_dirs


@pytest.fixture
def make_experiment(tmp_path: Path) -> Callable[..., list[Path]]:
    """Factory: :func:`make_experiment_dirs` under ``tmp_path``."""
    return lambda experiment, **kwargs: make_experiment_dirs(tmp_path, experiment, **kwargs)
