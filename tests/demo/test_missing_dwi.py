"""demo.missing_dwi_fraction: a deterministic draw of its own, the same at parse time and in the writer."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.demo.cohort import write_demo
from neuropeft.demo.gradients import gradient_table
from neuropeft.demo.layout import subject_files
from neuropeft.demo.missing import missing_dwi_subjects
from neuropeft.demo.settings import DemoSettings
from neuropeft.demo.subject import make_subject, subject_profile
from neuropeft.workflow import subject_table


def test_the_choice_is_deterministic_sized_and_seeded() -> None:
    chosen = missing_dwi_subjects(32, 0.25, 0)
    assert chosen == missing_dwi_subjects(32, 0.25, 0) and len(chosen) == 8 and chosen == sorted(chosen)
    assert set(chosen) <= {f"sub-{i:03d}" for i in range(1, 33)}
    assert missing_dwi_subjects(32, 0.25, 1) != chosen
    assert missing_dwi_subjects(32, 0.0, 0) == [] and len(missing_dwi_subjects(10, 0.26, 0)) == 3


def test_the_other_draws_do_not_change() -> None:
    plain, missing = DemoSettings.tiny(seed=3), DemoSettings.tiny(seed=3, missing_dwi_fraction=0.5)
    assert [subject_profile(plain, i).record(plain) for i in range(6)] == [
        subject_profile(missing, i).record(missing) for i in range(6)
    ]
    bvals, bvecs = gradient_table(plain)
    a, b = make_subject(plain, 1, bvals, bvecs), make_subject(missing, 1, bvals, bvecs)
    assert np.array_equal(a.t1w, b.t1w) and np.array_equal(a.dwi, b.dwi)


def test_a_subject_without_dwi_has_its_t1w_and_no_dwi_files(tmp_path: Path) -> None:
    settings = DemoSettings.tiny(missing_dwi_fraction=0.5)
    write_demo(tmp_path, settings, subject="sub-002", without_dwi=True)
    files = subject_files(tmp_path, "sub-002")
    assert files["t1w"].is_file() and files["tissue_dseg"].is_file()
    assert not any(files[f].exists() for f in ("dwi", "dwi_json", "bval", "bvec"))
    bvals, bvecs = gradient_table(settings)
    expected = make_subject(DemoSettings.tiny(), 1, bvals, bvecs).t1w
    assert np.array_equal(np.asarray(nib.load(files["t1w"]).dataobj), expected)


def test_the_workflow_lists_the_same_subjects_without_dwi(tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load((Path(__file__).parents[2] / "config" / "config.yaml").read_text())
    config.update(modalities=["t1w", "dwi"], optional_modalities=["dwi"])
    config["demo"].update(missing_dwi_fraction=0.25)
    records, _ = subject_table(config, tmp_path)
    without = [r["participant_id"] for r in records if not r["dwi"]]
    assert without == missing_dwi_subjects(32, 0.25, config["demo"]["seed"])
    assert all(not (r["bval"] or r["bvec"]) and r["t1w"] for r in records if not r["dwi"])


def test_the_whole_cohort_leaves_out_the_drawn_subjects_dwi(tmp_path: Path) -> None:
    from neuropeft.demo.cohort import make_demo_cohort

    settings = DemoSettings.tiny(n_subjects=2, missing_dwi_fraction=0.5)
    make_demo_cohort(tmp_path, settings)
    (without,) = missing_dwi_subjects(2, 0.5, settings.seed)
    for sub in ("sub-001", "sub-002"):
        files = subject_files(tmp_path, sub)
        assert files["t1w"].is_file() and files["dwi"].exists() == (sub != without), sub
