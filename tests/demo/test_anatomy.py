"""The demo anatomy's disk cache: computed once from the templates, then memory-mapped unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuropeft.demo import anatomy


def test_cached_layers_are_the_computed_ones_and_are_read_back_memory_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROPEFT_CACHE", str(tmp_path))
    computed = anatomy._template_layers()
    first = anatomy._cached_layers()  # a miss: computes and stores
    files = sorted(p.name for p in tmp_path.rglob("*.npy"))
    assert files == sorted(f"{name}.npy" for name in (*anatomy._LAYERS, "affine"))
    second = anatomy._cached_layers()  # a hit: read from disk
    for name, array in computed.items():
        assert isinstance(second[name], np.memmap) and second[name].dtype == array.dtype
        assert np.array_equal(first[name], array) and np.array_equal(second[name], array), name
    assert set(np.unique(computed["brain"])) <= {0, 1} and set(np.unique(computed["scalp"])) <= {0, 1}
