"""``neuropeft demo-cohort`` end to end, with worker processes."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd

from neuropeft.cli import main as cli_main
from neuropeft.demo.gradients import gradient_table
from neuropeft.demo.settings import DemoSettings
from neuropeft.demo.subject import make_subject


def test_cli_with_workers_matches_single_process(tmp_path) -> None:
    values = {"n_subjects": 2, "seed": 4, "t1w_voxel_mm": 3.0, "dwi_voxel_mm": 3.5, "n_b0": 1, "n_directions": 12}
    out = tmp_path / "demo"
    assert cli_main(["demo-cohort", "--out", str(out), "--threads", "2", "--settings", json.dumps(values)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bids", "truth"]
    participants = pd.read_csv(out / "bids" / "participants.tsv", sep="\t")
    assert participants.participant_id.tolist() == ["sub-001", "sub-002"]
    assert sorted(participants.diagnosis) == [0, 1]
    settings = DemoSettings(**values)
    subject = make_subject(settings, 1, *gradient_table(settings))
    written = nib.load(out / "bids" / "sub-002" / "dwi" / "sub-002_dwi.nii.gz")
    assert np.array_equal(np.asarray(written.dataobj), subject.dwi)
    assert np.allclose(written.affine, subject.dwi_grid.affine)
    labels = pd.read_csv(out / "truth" / "labels.tsv", sep="\t")
    assert labels.loc[1, "age"] == subject.age


def test_parts_written_alone_equal_the_whole_cohort(tmp_path) -> None:
    values = {"n_subjects": 2, "seed": 4, "t1w_voxel_mm": 3.0, "dwi_voxel_mm": 3.5, "n_b0": 1, "n_directions": 12}
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    settings = json.dumps(values)
    assert cli_main(["demo-cohort", "--out", str(whole), "--settings", settings]) == 0
    assert cli_main(["demo-cohort", "--out", str(parts), "--dataset-only", "--settings", settings]) == 0
    assert not (parts / "bids" / "sub-001").exists()
    # a subject needs no n_subjects (the workflow leaves it out so a larger cohort keeps the others)
    without_size = json.dumps({k: v for k, v in values.items() if k != "n_subjects"})
    for sub in ("sub-001", "sub-002"):
        assert cli_main(["demo-cohort", "--out", str(parts), "--subject", sub, "--settings", without_size]) == 0
    for name in (
        "participants.tsv",
        "sub-002/dwi/sub-002_dwi.nii.gz",
        "sub-001/anat/sub-001_T1w.nii.gz",
        "sub-001/dwi/sub-001_dwi.bvec",
        "derivatives/tissue/sub-001/anat/sub-001_desc-tissue_dseg.nii.gz",
        "derivatives/tissue/desc-tissue_dseg.tsv",
    ):
        assert (whole / "bids" / name).read_bytes() == (parts / "bids" / name).read_bytes(), name
    assert (whole / "truth" / "labels.tsv").read_text() == (parts / "truth" / "labels.tsv").read_text()


def test_bad_subject_id_is_one_line(tmp_path, capsys) -> None:
    assert cli_main(["demo-cohort", "--out", str(tmp_path), "--subject", "sub-../x", "--settings", "{}"]) == 1
    err = capsys.readouterr().err
    assert "'sub-../x' is not a demo subject ID" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())
