"""BIDS datasets as they come, planned by dry runs: ds114-like and ds000117-like layouts, nobody left, ambiguity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.bids.bids_builder import ds000117_like, ds114_like
from tests.workflow.snakemake_runner import job_counts, snakemake

N = 3


def dry_run(tmp_path: Path, bids: Path, *config: str):  # type: ignore[no-untyped-def]
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    result = snakemake(workdir, "-n", "--config", f"bids_dir={bids}", "modalities=[dwi,t1w]", *config)
    return result, result.stdout + result.stderr


def test_ds114_root_gradient_table_plans_every_session(tmp_path: Path) -> None:
    bids = ds114_like(tmp_path / "ds114", N)
    result, output = dry_run(tmp_path, bids.root)
    assert result.returncode == 0, output[-2000:]
    counts = job_counts(output)
    assert counts["n4_dwi"] == counts["fit_tensor"] == counts["n4_t1w"] == 2 * N
    assert (
        f"sub-0{N}/ses-retest/dwi/sub-0{N}_ses-retest_dwi.nii.gz, {bids.root}/dwi.bval" in output
    )  # the inherited table
    assert "derivatives" not in output and "sourcedata" not in output


def test_ds000117_plans_only_the_mri_sessions_silently(tmp_path: Path) -> None:
    bids = ds000117_like(tmp_path / "ds000117", N)
    result, output = dry_run(tmp_path, bids.root)
    assert result.returncode == 0, output[-2000:]
    assert job_counts(output)["n4_dwi"] == N
    assert "ses-meg" not in output and "subjects excluded" not in output


def test_no_subject_left_stops_at_parse_with_one_line(tmp_path: Path) -> None:
    bids = ds114_like(tmp_path / "ds114", N)
    bids.path("dwi.bvec").unlink()
    result, output = dry_run(tmp_path, bids.root)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"neuropeft: no subject left in {bids.root}: {N} of {N} subjects excluded; the reasons are in results/cohort/excluded.tsv"
    )
    assert "Job stats" not in output and "Traceback" not in output
    excluded = pd.read_csv(tmp_path / "work/results/cohort/excluded.tsv", sep="\t", dtype=str)
    assert (
        len(excluded) == 2 * N
        and excluded.reason.str.endswith("_dwi.bvec: does not exist; add it or fix the path").all()
    )


def test_several_acquisitions_stop_at_parse_until_bids_filters_choose(tmp_path: Path) -> None:
    bids = ds000117_like(tmp_path / "ds000117", N)
    bids.t1w("sub-01", "ses-mri", "acq-flash")
    result, output = dry_run(tmp_path, bids.root)
    assert result.returncode != 0 and "Traceback" not in output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "neuropeft: 1 (subject, session) have several T1w acquisitions (e.g. sub-01/ses-mri); choices: acq-flash, acq-mprage;"
    )
    chosen = tmp_path / "chosen.yaml"
    chosen.write_text("bids_filters: {t1w: {acq: mprage}}\n")
    result, output = dry_run(tmp_path, bids.root, "--configfile", str(chosen))
    assert result.returncode == 0, output[-2000:]
    assert job_counts(output)["n4_t1w"] == N and "acq-flash" not in output
