"""Same seed → identical arrays; another seed → different; subjects independent of cohort size."""

from __future__ import annotations

import numpy as np

from neuropeft.demo.gradients import gradient_table
from neuropeft.demo.settings import DemoSettings
from neuropeft.demo.subject import Subject, make_subject


def _make(settings: DemoSettings, index: int) -> Subject:
    bvals, bvecs = gradient_table(settings)
    return make_subject(settings, index, bvals, bvecs)


def _arrays(subject: Subject) -> dict[str, np.ndarray]:
    arrays = {"t1w": subject.t1w, "dwi": subject.dwi, "tissue_dseg": subject.tissue_dseg}
    arrays.update({f"t1w_{k}": v for k, v in subject.truth_t1w.items()})
    arrays.update({f"dwi_{k}": v for k, v in subject.truth_dwi.items()})
    return arrays


def test_same_seed_identical_other_seed_different() -> None:
    settings = DemoSettings.tiny(seed=11)
    first, second = _arrays(_make(settings, 1)), _arrays(_make(settings, 1))
    for name in first:
        assert first[name].tobytes() == second[name].tobytes(), name
    other = _make(DemoSettings.tiny(seed=12), 1)
    assert not np.array_equal(first["dwi"], other.dwi)
    assert not np.array_equal(first["t1w"], other.t1w)


def test_subject_independent_of_cohort_size() -> None:
    small, large = DemoSettings.tiny(n_subjects=2), DemoSettings.tiny(n_subjects=50)
    a, b = _make(small, 1), _make(large, 1)
    assert (a.age, a.sex, a.diagnosis, a.site.label) == (b.age, b.sex, b.diagnosis, b.site.label)
    assert np.array_equal(a.dwi, b.dwi)


def test_cohort_matches_in_memory_subject(tiny_demo) -> None:
    import nibabel as nib

    subject = _make(tiny_demo.settings, 2)
    written = nib.load(tiny_demo.bids / "sub-003" / "dwi" / "sub-003_dwi.nii.gz")
    assert np.array_equal(np.asarray(written.dataobj), subject.dwi)
