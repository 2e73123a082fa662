"""task survival on the tiny demo cohort: its time-to-event outcome read from participants.tsv,
folds stratified on the event, a Cox head trained fold by fold, the C-index and a Kaplan–Meier figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.snakemake_runner import TINY, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


@pytest.fixture(scope="module")
def survival_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("survival_run")
    # 10 subjects: 8 leave one censored subject in a fold's training part, too few to stratify its validation part
    config = {"task": "survival", "target": "time", "event_column": "event", "demo": {"n_subjects": 10}}
    (workdir / "survival.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "2", "--configfile", TINY, str(workdir / "survival.yaml"))
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_the_outcome_travels_from_participants_to_the_predictions(survival_run: Path) -> None:
    participants = pd.read_csv(survival_run / "results/demo/bids/participants.tsv", sep="\t")
    truth = pd.read_csv(survival_run / "results/demo/truth/labels.tsv", sep="\t")
    pd.testing.assert_frame_equal(participants[["time", "event"]], truth[["time", "event"]])
    outcome = participants.set_index("participant_id")
    folds = pd.read_csv(survival_run / "results/folds/folds.tsv", sep="\t")
    for fold in sorted(folds["fold"].unique()):
        predictions = pd.read_csv(survival_run / f"results/models/tiny-lora/fold-{fold}/predictions.tsv", sep="\t")
        assert list(predictions.columns) == ["participant_id", "session", "fold", "time", "event", "risk"]
        tested = folds[(folds["fold"] == fold) & (folds["role"] == "test")]["participant_id"]
        assert sorted(predictions["participant_id"]) == sorted(tested)
        expected = outcome.loc[predictions["participant_id"], ["time", "event"]].to_numpy()
        assert (predictions[["time", "event"]].to_numpy() == expected).all()
        for role in ("train", "val", "test"):  # stratified on the event: every part has events
            ids = folds[(folds["fold"] == fold) & (folds["role"] == role)]["participant_id"]
            assert outcome.loc[ids, "event"].sum() >= 1


def test_the_comparison_reports_the_c_index_and_a_kaplan_meier_figure(survival_run: Path) -> None:
    comparison = pd.read_csv(survival_run / "results/metrics/comparison.tsv", sep="\t")
    assert "c_index_mean" in comparison.columns and comparison["c_index_mean"].between(0, 1).all()
    assert "C-index" in (survival_run / "results/metrics/comparison.md").read_text()
    figure = survival_run / "results/metrics/tiny-lora/kaplan_meier.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
