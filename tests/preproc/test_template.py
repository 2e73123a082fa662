"""The template comes from nilearn once, then from the on-disk cache with identical content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuropeft.preproc import template


def test_cache_returns_nilearn_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROPEFT_CACHE", str(tmp_path))
    first = template._cached("T1w", 4, lambda: template._t1w(4))
    files = list(tmp_path.rglob("*.nii.gz"))
    assert len(files) == 1 and "res-4mm" in files[0].name
    again = template._cached("T1w", 4, lambda: pytest.fail("cache miss on the second call"))
    np.testing.assert_array_equal(np.asarray(first.dataobj), np.asarray(again.dataobj))
    np.testing.assert_array_equal(first.affine, again.affine)
    reference = template._t1w(4)
    np.testing.assert_allclose(np.asarray(again.dataobj), np.asarray(reference.dataobj))


def test_brain_mask_matches_template_grid() -> None:
    t1w, mask = template.template_t1w(4), template.template_brain_mask(4)
    assert t1w.shape == mask.shape
    np.testing.assert_array_equal(t1w.affine, mask.affine)
    brain_ml = np.count_nonzero(np.asarray(mask.dataobj)) * 4**3 / 1000
    assert 1200 < brain_ml < 2200
