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
