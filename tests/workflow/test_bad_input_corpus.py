"""The bad-input corpus through the whole workflow, on a read-only copy of the dataset.

Run 1 (``--keep-going``): validation excludes the broken files and rows, the per-subject steps stop
on the remaining bad data with one-line errors and failure records, every other subject finishes,
nothing half-written is left and the input dataset is untouched.  Run 2 (same command): the
workflow goes on without the failed subjects (``on_subject_failure: drop``) and the report lists
every subject left out with the reason.  Then: a third run has nothing to do; forcing the cohort
steps again reproduces folds, predictions and metrics exactly; repairing a subject's data brings
it back; too many failures are refused.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neuropeft.demo.cohort import make_demo_cohort
from neuropeft.demo.settings import DemoSettings
from tests.workflow.bad_input_corpus import CASES, build_corpus
from tests.workflow.snakemake_runner import TINY, job_counts, snakemake

STEP_FAILURES = {subject: case for subject, case in CASES.items() if case.caught_at not in ("validation", "")}
PROCESSED = [subject for subject, case in CASES.items() if case.caught_at == ""]


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, mtime and SHA-256."""
    return {
        str(path.relative_to(root)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


class Corpus:
    """The corpus, the runs' working directory and what the runs printed."""

    def __init__(self, bids: Path, workdir: Path, args: list[str]) -> None:
        self.bids, self.workdir, self.args = bids, workdir, args
        self.before = _snapshot(bids)
        self.runs: list[str] = []
        self.first_code = 0  # exit status of the first run
        self.after_first: dict[str, tuple[int, int, str]] = {}  # results/ after the first run

    def run(self, *extra: str) -> tuple[int, str]:
        result = snakemake(self.workdir, *self.args, *extra)
        output = result.stdout + result.stderr
        self.runs.append(output)
        return result.returncode, output


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    make_demo_cohort(root / "demo", DemoSettings.tiny(n_subjects=8), workers=2)
    bids = build_corpus(root / "demo" / "bids", root / "bids")
    tiny = yaml.safe_load(Path(TINY).read_text())
    override = root / "corpus.yaml"
    override.write_text(
        yaml.safe_dump({"bids_dir": str(bids), "model_grid": tiny["demo_model_grid"], "max_failed_fraction": 0.5})
    )
    workdir = root / "work"
    workdir.mkdir()
    _set_writable(bids, False)
    corpus = Corpus(bids, workdir, ["--cores", "2", "--configfile", TINY, str(override)])
    corpus.first_code, _ = corpus.run("--keep-going")
    corpus.after_first = _snapshot(workdir / "results")
    second_code, second = corpus.run()
    assert second_code == 0, second[-4000:]
    yield corpus
    _set_writable(bids, True)


def test_first_run_fails_only_the_bad_subjects_with_one_line_reasons(corpus: Corpus) -> None:
    output = corpus.runs[0]
    assert corpus.first_code != 0
    assert "Traceback" not in output
    for subject, case in STEP_FAILURES.items():
        assert f"{subject} at {case.caught_at}: " in output, subject
        record = json.loads((corpus.workdir / "results" / "failures" / subject / f"{case.caught_at}.json").read_text())
        assert case.reason in record["reason"] and "\n" not in record["reason"], (subject, record)
        log = (corpus.workdir / "results" / "logs" / case.caught_at / subject / f"{subject}.log").read_text()
        assert "Traceback" not in log and log.strip().splitlines()[-1].startswith("neuropeft "), log[-500:]
    assert "run the same command again" in output
    failed_dirs = sorted(p.name for p in (corpus.workdir / "results" / "failures").iterdir())
    assert failed_dirs == sorted(STEP_FAILURES)


def test_validation_excludes_each_broken_file_and_row_with_its_reason(corpus: Corpus) -> None:
    excluded = pd.read_csv(corpus.workdir / "results/cohort/excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
    for subject, case in CASES.items():
        if case.caught_at == "validation":
            reasons = " ".join(excluded.loc[excluded["participant_id"] == subject, "reason"])
            assert case.reason in reasons, (subject, reasons)
    assert not set(excluded["participant_id"]) - {s for s, c in CASES.items() if c.caught_at == "validation"}


def test_nothing_half_written_and_the_others_finished_in_the_first_run(corpus: Corpus) -> None:
    written = corpus.after_first
    assert not [name for name in written if ".tmp" in name]
    model_inputs = {name.split("/")[1] for name in written if name.startswith("model_input/")}
    good = {f"sub-{i:03d}" for i in range(1, 9)} | set(PROCESSED)
    assert model_inputs == good
    for subject, case in STEP_FAILURES.items():
        produced = [name for name in written if name.startswith(f"preproc/{subject}/") and name.endswith(".nii.gz")]
        if case.caught_at == "n4_dwi":
            assert produced == [], produced
        else:  # failed after N4: N4's outputs stay, nothing of the failed step
            assert all("desc-n4" in name or "biasfield" in name for name in produced), produced


def test_second_run_trains_on_the_survivors_and_reports_who_was_dropped(corpus: Corpus) -> None:
    results = corpus.workdir / "results"
    failures = pd.read_csv(results / "cohort/failures.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert dict(zip(failures["participant_id"], failures["step"], strict=False)) == {
        s: c.caught_at for s, c in STEP_FAILURES.items()
    }
    index = pd.read_csv(results / "cohort/model_input.tsv", sep="\t", dtype=str)
    assert sorted(index["participant_id"]) == sorted([f"sub-{i:03d}" for i in range(1, 9)] + PROCESSED)
    comparison = (results / "metrics/comparison.md").read_text()
    left_out = [s for s, c in CASES.items() if c.caught_at]
    assert f"## Subjects left out ({len(excluded_rows(results)) + len(STEP_FAILURES)})" in comparison
    for subject in left_out:
        assert f"| {subject} |" in comparison, subject
    assert "| sub-301 |  | step n4_dwi | " in comparison


def excluded_rows(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "cohort/excluded.tsv", sep="\t", dtype=str, keep_default_na=False)


def test_input_dataset_untouched_and_outputs_only_under_results(corpus: Corpus) -> None:
    assert _snapshot(corpus.bids) == corpus.before
    top = {p.name for p in corpus.workdir.iterdir()}
    assert top <= {"results", ".snakemake"}, top


def test_third_run_has_nothing_to_do(corpus: Corpus) -> None:
    code, output = corpus.run("-n")
    assert code == 0 and "Nothing to be done" in output, output[-2000:]


def test_same_seed_reproduces_folds_predictions_and_metrics(corpus: Corpus) -> None:
    results = corpus.workdir / "results"
    outputs = [
        "folds/folds.tsv",
        "metrics/tiny-lora/fold_metrics.tsv",
        "metrics/tiny-lora/oof_predictions.tsv",
        "models/tiny-lora/fold-0/predictions.tsv",
        "models/tiny-lora/fold-1/predictions.tsv",
        "pretrain/tiny-recon/backbone.safetensors",
    ]
    before = {name: (results / name).read_bytes() for name in outputs}
    summary = json.loads((results / "metrics/tiny-lora/summary.json").read_text())
    code, output = corpus.run("--forcerun", "folds", "pretrain")
    assert code == 0, output[-3000:]
    assert job_counts(output).get("train") == 2
    for name in outputs:
        assert (results / name).read_bytes() == before[name], name
    assert json.loads((results / "metrics/tiny-lora/summary.json").read_text())["metrics"] == summary["metrics"]
    provenance = json.loads((results / "provenance.json").read_text())
    tiny = yaml.safe_load(Path(TINY).read_text())
    assert provenance["config"]["bids_dir"] == str(corpus.bids)
    assert provenance["config"]["experiments"] == tiny["experiments"] and "seed" in provenance["config"]["folds"]
    assert all(provenance["versions"][name] not in ("", "missing") for name in ("torch", "snakemake", "neuropeft"))


def test_repaired_subject_is_tried_again_and_too_many_failures_are_refused(corpus: Corpus) -> None:
    _set_writable(corpus.bids, True)
    try:
        blank = corpus.bids / "sub-302" / "dwi" / "sub-302_dwi.nii.gz"
        blank.write_bytes((corpus.bids / "sub-001" / "dwi" / "sub-001_dwi.nii.gz").read_bytes())
        code, output = corpus.run("-n")
        counts = job_counts(output)
        assert code == 0 and counts.get("n4_dwi") == 1 and counts.get("stack_model_input") == 1, output[-2000:]
        code, output = corpus.run("-n", "--config", "max_failed_fraction=0.1")
        assert code != 0 and "max_failed_fraction 0.1" in output and "Traceback" not in output
    finally:
        _set_writable(corpus.bids, False)
