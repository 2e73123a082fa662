"""Parsing and dry runs: the default config lists the demo's jobs; a bad config value is named."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from neuropeft.steps import validate_cohort
from tests.workflow.snakemake_runner import ROOT, TINY, job_counts, snakemake

#: the demo cohort's size in config/config.yaml
N_DEMO = 32


def test_default_config_lists_the_demo_jobs(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["demo_cohort_subject"] == N_DEMO and counts["demo_cohort_dataset"] == 1
    for step in ("n4_dwi", "skullstrip_dwi", "fit_tensor", "register_dwi", "resample_dwi", "qc_subject_dwi"):
        assert counts[step] == N_DEMO, step
    assert counts["train"] == 4 * 5  # four demo experiments x five folds
    assert counts["federate"] == 5  # and one federated across the demo's sites
    assert counts["pretrain"] == 1  # one pre-training run shared by three experiments
    assert counts["compare_experiments"] == 1


def test_both_modalities_add_the_t1w_chain_and_channel_stacking(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--config", "modalities=[dwi,t1w]")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    for step in ("n4_t1w", "skullstrip_t1w", "register_t1w", "resample_t1w", "qc_subject_t1w", "combine_channels"):
        assert counts[step] == N_DEMO, step


def test_wrong_config_value_names_the_key_and_allowed_values(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--config", "on_invalid=ignore")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "'ignore' is not one of ['exclude', 'stop']" in output
    assert "on_invalid" in output


def test_external_test_set_is_preprocessed_alike_and_scored_by_every_fold(tmp_path: Path, tiny_demo) -> None:  # type: ignore[no-untyped-def]
    result = snakemake(tmp_path, "-n", "--configfile", TINY, "--config", f"external_bids_dir={tiny_demo.bids}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    n_cohort, n_external = 8, len(tiny_demo.subjects)
    assert counts["n4_dwi"] == n_cohort + n_external
    assert counts["validate_cohort"] == 2 and counts["stack_model_input"] == 2
    assert counts["predict_external"] == 2  # one tiny experiment x two folds
    assert (
        counts["ensemble_external"] == counts["score_external_ensemble"] == counts["compare_experiments_external"] == 1
    )
    assert f"results/external/preproc/{tiny_demo.subjects[0]}/dwi/" in result.stdout + result.stderr


TWO_GRIDS = """
model_grids:
  sam: {voxel_mm: 1.5, shape: [128, 128, 128]}
pretrain: []
experiments:
  - {name: resnet10-lora, backbone: resnet10, method: lora}
  - {name: sam-probe, backbone: sam-med3d, method: linear_probe, head: conv_s, grid: sam}
"""


def test_two_grids_in_one_workflow_each_resampled_and_stacked_once(tmp_path: Path) -> None:
    (tmp_path / "grids.yaml").write_text(TWO_GRIDS)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "grids.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    counts = job_counts(output)
    assert counts["resample_dwi"] == 2 * N_DEMO and counts["stack_model_input"] == 2 and counts["train"] == 2 * 5
    assert counts["n4_dwi"] == counts["register_dwi"] == N_DEMO  # the chain before resampling is shared
    assert '--settings \'{"normalise":["fa","md"],"shape":[128,128,128],"voxel_mm":1.5}\'' in output
    assert "--out results/model_input/sub-001/sub-001_space-MNI152NLin2009aSym_res-sam_desc-dwi_model.nii.gz" in output
    # each experiment reads its own grid's stack, both in one comparison
    assert (
        "--array results/cohort/model_input_res-sam.npy" in output
        and "--array results/cohort/model_input.npy" in output
    )
    assert counts["compare_experiments"] == 1


def test_an_undefined_grid_is_named_with_the_defined_ones(tmp_path: Path) -> None:
    (tmp_path / "grids.yaml").write_text(TWO_GRIDS.replace("grid: sam", "grid: sam2"))
    result = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "grids.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "neuropeft: experiment 'sam-probe': grid 'sam2' is not defined; add it under model_grids (defined: ['sam'])"
        in output
    )
    assert "Traceback" not in output


FEDERATED = """
folds: {site_balanced: false}
pretrain: []
experiments:
  - {name: lora, backbone: resnet10, method: lora}
  - {name: lora-fedavg, backbone: resnet10, method: lora, federated: {strategy: fedavg, rounds: 4}}
"""


def test_a_federated_experiment_is_federated_beside_its_centralized_twin(tmp_path: Path) -> None:
    (tmp_path / "fed.yaml").write_text(FEDERATED)
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "fed.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    counts = job_counts(output)
    assert counts["train"] == counts["federate"] == 5 and counts["compare_experiments"] == 1
    assert "neuropeft federate" in output and "--out-dir results/models/lora-fedavg/fold-0" in output
    assert "--out-dir results/models/lora/fold-0" in output
    assert '"site_balanced":true' in output  # a federated experiment balances the folds' sites by itself
    assert counts["federation_figures"] == counts["site_intensities"] == 1


def test_a_federated_experiment_with_whole_sites_held_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fed.yaml").write_text(FEDERATED.replace("site_balanced: false", "group_by: site"))
    result = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "fed.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "set folds.group_by: participant" in output and "Traceback" not in output


def test_a_nested_key_is_overridden_by_a_config_file_as_the_readme_shows(tmp_path: Path) -> None:
    (tmp_path / "overrides.yaml").write_text("tensor: {max_bval: 2500}\nfolds: {n_folds: 10}\n")
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "overrides.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert '"fit_method":"WLS","max_bval":2500,' in output  # the other tensor keys stay
    assert job_counts(output)["train"] == 4 * 10


def test_an_experiment_with_covariates_reads_participants_and_its_twin_does_not(tmp_path: Path) -> None:
    (tmp_path / "cov.yaml").write_text(
        "experiments:\n"
        "  - {name: lora, backbone: resnet10, method: lora}\n"
        "  - {name: lora-clinical, backbone: resnet10, method: lora, covariates: [age, sex]}\n"
    )
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "cov.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert job_counts(output)["train"] == 10
    commands = [line for line in output.splitlines() if "neuropeft train" in line]
    with_table = [c for c in commands if "--covariates-table results/demo/bids/participants.tsv" in c]
    assert len(with_table) == 5 and all("lora-clinical" in c for c in with_table)
    assert "--covariates age sex" in output  # validation leaves out rows without them


def _validate_cohort_arguments(output: str) -> list[str]:
    """The planned validate-cohort command's arguments (after ``python -m neuropeft validate-cohort``, before the log)."""
    line = next(line for line in output.splitlines() if "neuropeft validate-cohort" in line)
    command = line.split("python -m neuropeft validate-cohort ", 1)[1].split(" 2>", 1)[0]
    return shlex.split(command)


def test_the_planned_validate_cohort_command_parses_with_and_without_survival(tmp_path: Path) -> None:
    for extra in ([], ["--configfile", str(ROOT / "config" / "survival.yaml")]):
        result = snakemake(tmp_path, "-n", "-p", "--until", "validate_cohort", *extra)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-2000:]
        parser = argparse.ArgumentParser()
        validate_cohort.add_arguments(parser)
        args = parser.parse_args(_validate_cohort_arguments(output))  # a flag without its value exits
        assert args.event_column == ("event" if extra else "")
        assert args.covariates == (["age", "sex"] if extra else [])


def test_a_cross_modal_experiment_adapts_its_source_fold_and_inputs_are_compared(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(ROOT / "config" / "cross_modal.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    counts = job_counts(output)
    assert counts["train"] == 3 * 5 and counts["predict_inputs"] == 3 * 5 and counts["modality_table"] == 1
    commands = [line for line in output.splitlines() if "neuropeft train" in line and "t1w-to-dwi-lora" in line]
    assert len(commands) == 5
    for k in range(5):  # fold k adapts the source's fold k
        (command,) = [c for c in commands if f"--out-dir results/models/t1w-to-dwi-lora/fold-{k} " in c]
        assert f"--source-model results/models/t1w-full/fold-{k} " in command
    assert not [line for line in output.splitlines() if "neuropeft train" in line and "--source-model" in line][5:]


def test_one_modality_plans_no_input_comparison(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    assert "predict_inputs" not in counts and "modality_table" not in counts
