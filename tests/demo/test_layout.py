"""The demo layout is the one the writer uses: every listed file exists after writing a cohort."""

from __future__ import annotations

import pytest

from neuropeft.demo.layout import dataset_files, demo_dir_of, subject_files


def test_the_writer_puts_every_file_where_the_layout_says(tiny_demo) -> None:
    for sub in tiny_demo.subjects:
        missing = [str(path) for path in subject_files(tiny_demo.root, sub).values() if not path.exists()]
        assert not missing
    assert all(path.exists() for path in dataset_files(tiny_demo.root).values())


def test_demo_dir_of_a_bids_file() -> None:
    assert demo_dir_of("results/demo/bids/sub-001/dwi/sub-001_dwi.nii.gz") == "results/demo"
    assert demo_dir_of("results/demo/bids/participants.tsv") == "results/demo"
    with pytest.raises(ValueError, match="not inside"):
        demo_dir_of("elsewhere/sub-001_dwi.nii.gz")
