"""Cohort design: balanced labels and sites, gradient table."""

from __future__ import annotations

import numpy as np

from neuropeft.demo.design import assignment, site
from neuropeft.demo.gradients import format_bvec, gradient_table
from neuropeft.demo.settings import DemoSettings


def test_labels_balanced_and_sites_balanced_across_labels() -> None:
    settings = DemoSettings(n_subjects=40, n_sites=2)
    pairs = [assignment(settings, i) for i in range(settings.n_subjects)]
    diagnosis = np.array([d for d, _ in pairs])
    sites = np.array([s for _, s in pairs])
    assert diagnosis.sum() == 20
    for s in range(2):
        assert np.sum((sites == s) & (diagnosis == 1)) == np.sum((sites == s) & (diagnosis == 0)) == 10
    assert len(set(map(tuple, np.reshape(diagnosis, (-1, 4))))) > 1  # not a fixed pattern


def test_assignment_does_not_depend_on_cohort_size() -> None:
    small, large = DemoSettings(n_subjects=6), DemoSettings(n_subjects=60)
    assert [assignment(small, i) for i in range(6)] == [assignment(large, i) for i in range(6)]


def test_sites_differ() -> None:
    settings = DemoSettings(n_sites=3)
    scales = {site(settings, i).scale for i in range(3)}
    assert len(scales) == 3 and all(0.7 < s < 1.3 for s in scales)


def test_gradient_table() -> None:
    settings = DemoSettings()
    bvals, bvecs = gradient_table(settings)
    assert len(bvals) == settings.n_b0 + settings.n_directions and bvals[0] == 0
    assert np.sum(bvals == 0) == settings.n_b0
    np.testing.assert_allclose(np.linalg.norm(bvecs[bvals > 0], axis=1), 1, atol=1e-5)
    assert np.all(bvecs[bvals == 0] == 0)
    # directions are spread: no two (antipodal-equivalent) directions closer than 20 degrees
    g = bvecs[bvals > 0]
    cos = np.abs(g @ g.T) - 2 * np.eye(len(g))
    assert np.degrees(np.arccos(cos.max())) > 20
    assert np.loadtxt(format_bvec(bvecs).splitlines()).shape == (3, len(bvals))
