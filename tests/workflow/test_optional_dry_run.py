"""A dry run with DWI optional and a demo missing some DWI: no DWI step for those subjects, zeros combined."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from neuropeft.demo.missing import missing_dwi_subjects
from neuropeft.steps import combine_channels, validate_cohort
from tests.workflow.snakemake_runner import job_counts, snakemake

#: the demo cohort's size and seed in config/config.yaml
N_DEMO, SEED = 32, 0
OPTIONAL = """
modalities: [t1w, dwi]
optional_modalities: [dwi]
demo: {missing_dwi_fraction: 0.25}
"""
DWI_STEPS = ("n4_dwi", "skullstrip_dwi", "fit_tensor", "register_dwi", "resample_dwi", "qc_subject_dwi")


def _commands(output: str, step: str) -> list[list[str]]:
    """The planned ``neuropeft <step>`` commands' arguments (before the log)."""
    found = re.findall(rf"neuropeft (?:--failure-record \S+ )?{step} (.*?) 2>", output)
    return [shlex.split(command) for command in found]


def test_subjects_without_dwi_get_no_dwi_step_and_zeros_for_its_channels(tmp_path: Path) -> None:
    (tmp_path / "optional.yaml").write_text(OPTIONAL)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "optional.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    without = missing_dwi_subjects(N_DEMO, 0.25, SEED)
    assert len(without) == 8
    counts = job_counts(output)
    for step in DWI_STEPS:
        assert counts[step] == N_DEMO - len(without), step
    assert counts["n4_t1w"] == counts["combine_channels"] == N_DEMO
    assert counts["demo_cohort_subject"] == N_DEMO - len(without)
    assert counts["demo_cohort_subject_without_dwi"] == len(without)
    for sub in without:  # no DWI file or job anywhere in the plan
        assert f"results/preproc/{sub}/dwi/" not in output and f"bids/{sub}/dwi/" not in output, sub
    parser = argparse.ArgumentParser()
    combine_channels.add_arguments(parser)
    combined = {}
    for argv in _commands(output, "combine-channels"):
        args = parser.parse_args(argv)
        combined[Path(args.out).name.split("_")[0]] = args
    assert sorted(combined) == [f"sub-{i:03d}" for i in range(1, N_DEMO + 1)]
    for sub, args in combined.items():
        if sub in without:
            assert args.absent == ["dwi:2"] and args.modalities == ["t1w", "dwi"]
            assert [v.name for v in args.volumes] == [f"{sub}_space-MNI152NLin2009aSym_desc-t1w_model.nii.gz"]
        else:
            assert args.absent == [] and len(args.volumes) == 2
    validate = argparse.ArgumentParser()
    validate_cohort.add_arguments(validate)
    (argv,) = _commands(output, "validate-cohort")
    assert validate.parse_args(argv).optional_modalities == ["dwi"]
    (stack,) = _commands(output, "stack-model-input")
    assert "--optional-modalities" in stack and "dwi" in stack


def test_a_demo_missing_dwi_needs_dwi_optional(tmp_path: Path) -> None:
    (tmp_path / "missing.yaml").write_text(OPTIONAL.replace("optional_modalities: [dwi]", "optional_modalities: []"))
    result = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "missing.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "set optional_modalities: [dwi]" in output
