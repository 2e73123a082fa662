"""``compare`` (comparison table) and ``plot-fractions`` (data-size ablation) from experiment summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.atomic import write_json
from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.aggregate import aggregate_experiment, load_folds, summarise
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.table import comparison_frame, markdown_table
from tests.metrics.metrics_helpers import make_experiment_dirs

FAST = MetricsSettings(bootstrap=30, seed=0)


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Summaries of a LoRA and a full fine-tuning experiment (3 folds each), under ``paths["root"]``."""
    root = tmp_path_factory.mktemp("experiments")
    paths = {"root": root}
    for name, extra in {
        "lora": {"trainable_params": 1_640_000, "total_params": 185_000_000},
        "full": {
            "method": "full",
            "trainable_params": 185_000_000,
            "total_params": 185_000_000,
            "peak_memory_mb": 5000.0,
        },
    }.items():
        dirs = make_experiment_dirs(root, name, **extra)
        aggregate_experiment(name, dirs, root / "metrics" / name, FAST)
        paths[name] = root / "metrics" / name / "summary.json"
    return paths


def test_comparison_rows_columns_and_percent(summaries, tmp_path: Path) -> None:
    out_tsv, out_md = tmp_path / "comparison.tsv", tmp_path / "comparison.md"
    status = cli_main(
        [
            "compare-experiments",
            "--summaries",
            str(summaries["lora"]),
            str(summaries["full"]),
            "--runs-glob",
            str(summaries["root"] / "models" / "*" / "fold-*" / "run.json"),
            "--out-tsv",
            str(out_tsv),
            "--out-md",
            str(out_md),
            "--settings",
            '{"decimals": 2}',
        ]
    )
    assert status == 0
    table = pd.read_csv(out_tsv, sep="\t")
    assert table["experiment"].tolist() == ["lora", "full"]
    assert table["method"].tolist() == ["lora", "full"]
    assert table["trainable_percent"].tolist() == pytest.approx([1_640_000 / 185_000_000 * 100, 100.0])
    assert table["train_seconds_mean"].tolist() == pytest.approx([110.0, 110.0])  # folds 0..2: 100, 110, 120 s
    assert table["peak_memory_mb"].tolist() == pytest.approx([1002.0, 5000.0])
    for metric in ("accuracy", "auc", "sensitivity", "specificity", "f1", "balanced_accuracy"):
        assert {metric, f"{metric}_mean", f"{metric}_sd", f"{metric}_pooled", f"{metric}_ci_low"} <= set(table.columns)
    lora = json.loads(summaries["lora"].read_text())["metrics"]["auc"]
    assert table.loc[0, "auc"] == f"{lora['mean']:.2f} ± {lora['sd']:.2f}"
    assert table.loc[0, "auc_mean"] == pytest.approx(lora["mean"])
    assert "train_fraction" not in table.columns

    markdown = out_md.read_text().splitlines()
    assert markdown[0].startswith("| Experiment | Backbone | Method | Head | Accuracy |")
    assert len(markdown) == 6  # header, rule, two rows, how to read the cells
    assert markdown[5] == "Each metric: mean ± SD over the folds' test subjects."
    assert "1,640,000 (0.89%)" in markdown[2] and "185,000,000 (100%)" in markdown[3]
    best = "lora" if table.loc[0, "auc_mean"] >= table.loc[1, "auc_mean"] else "full"
    auc_column = markdown[0].split(" | ").index("AUC")
    best_row = markdown[2] if best == "lora" else markdown[3]
    assert best_row.split(" | ")[auc_column].startswith("**")


def test_one_fixed_split_reports_the_test_value_with_its_bootstrap_ci(tmp_path: Path) -> None:
    dirs = make_experiment_dirs(tmp_path, "split", n_folds=1, n=40)
    aggregate_experiment("split", dirs, tmp_path / "metrics" / "split", FAST)
    summary = tmp_path / "metrics" / "split" / "summary.json"
    auc = json.loads(summary.read_text())["metrics"]["auc"]
    assert auc["ci_low"] < auc["pooled"] < auc["ci_high"]
    frame = comparison_frame([summary], sorted(tmp_path.glob("models/split/fold-*/run.json")), FAST)
    assert frame.loc[0, "auc"] == f"{auc['pooled']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]"
    out_md = tmp_path / "comparison.md"
    cli_main(
        [
            "compare-experiments",
            "--summaries",
            str(summary),
            "--runs-glob",
            str(tmp_path / "models" / "*" / "fold-*" / "run.json"),
            "--out-tsv",
            str(tmp_path / "comparison.tsv"),
            "--out-md",
            str(out_md),
        ]
    )
    assert "One fixed split: each metric on its test subjects [95% bootstrap CI]." in out_md.read_text()


def test_comparison_needs_the_run_jsons_of_each_experiment(summaries, tmp_path: Path) -> None:
    lora_runs = sorted((summaries["root"] / "models" / "lora").glob("fold-*/run.json"))
    with pytest.raises(NeuropeftError, match="no run.json for experiment full"):
        comparison_frame([summaries["lora"], summaries["full"]], lora_runs, FAST)
    with pytest.raises(NeuropeftError, match="2 run.json files for 3 folds"):
        comparison_frame([summaries["lora"]], lora_runs[:2], FAST)


def test_plot_fractions(make_experiment, tmp_path: Path) -> None:
    paths = []
    for fraction in (0.1, 0.5, 1.0):
        name = f"lora_frac{int(fraction * 100)}"
        dirs = make_experiment(name, n_folds=2, train_fraction=fraction)
        paths.append(tmp_path / "metrics" / name / "summary.json")
        write_json(paths[-1], summarise(name, load_folds(name, dirs), FAST)[2])  # no plots: faster
    out = tmp_path / "fractions"
    status = cli_main(
        [
            "plot-fractions",
            "--summaries",
            *map(str, reversed(paths)),
            "--out-png",
            str(out / "f.png"),
            "--out-svg",
            str(out / "f.svg"),
            "--out-tsv",
            str(out / "f.tsv"),
        ]
    )
    assert status == 0
    points = pd.read_csv(out / "f.tsv", sep="\t")
    assert points["train_fraction"].tolist() == [0.1, 0.5, 1.0]
    expected = [json.loads(p.read_text())["metrics"]["auc"]["mean"] for p in paths]
    assert points["mean"].tolist() == pytest.approx(expected)
    assert (out / "f.png").read_bytes()[:4] == b"\x89PNG" and (out / "f.png").stat().st_size > 1000

    table = comparison_frame(paths, sorted((tmp_path / "models").glob("*/fold-*/run.json")), FAST)
    assert table["train_fraction"].tolist() == [0.1, 0.5, 1.0]


def test_plot_fractions_refuses_untagged_experiments(summaries, tmp_path: Path, capsys) -> None:
    status = cli_main(
        [
            "plot-fractions",
            "--summaries",
            str(summaries["lora"]),
            "--out-png",
            str(tmp_path / "f.png"),
            "--out-svg",
            str(tmp_path / "f.svg"),
            "--out-tsv",
            str(tmp_path / "f.tsv"),
        ]
    )
    assert status == 1
    assert "has no train_fraction" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


def test_markdown_lists_the_subjects_left_out(summaries, tmp_path: Path) -> None:
    excluded, failures = tmp_path / "excluded.tsv", tmp_path / "failures.tsv"
    excluded.write_text("participant_id\tsession\treason\nsub-07\t\thas no value for the target\n")
    failures.write_text(
        "participant_id\tsession\tstem\tstep\treason\nsub-03\tses-1\tsub-03_ses-1\tn4_dwi\tthe image is blank\n"
    )
    out_md = tmp_path / "comparison.md"
    argv = [
        "compare-experiments",
        "--summaries",
        str(summaries["lora"]),
        "--runs-glob",
        str(summaries["root"] / "models" / "lora" / "fold-*" / "run.json"),
        "--out-tsv",
        str(tmp_path / "c.tsv"),
        "--out-md",
        str(out_md),
        "--excluded",
        str(excluded),
        "--failures",
        str(failures),
    ]
    assert cli_main(argv) == 0
    text = out_md.read_text()
    assert "## Subjects left out (2)" in text
    assert "| sub-07 |  | validation | has no value for the target |" in text
    assert "| sub-03 | ses-1 | step n4_dwi | the image is blank |" in text
    failures.write_text("participant_id\tsession\tstem\tstep\treason\n")
    excluded.write_text("participant_id\tsession\treason\n")
    assert cli_main(argv) == 0
    assert "No subject was left out." in out_md.read_text()
    failures.write_text("participant_id\treason\n")
    assert cli_main(argv) == 1


def test_markdown_lists_the_subjects_the_qc_left_out(summaries, tmp_path: Path) -> None:
    qc_excluded = tmp_path / "qc_excluded.tsv"
    qc_excluded.write_text(
        "participant_id\tsession\tstem\tstep\treason\nsub-05\tn/a\tsub-05\tqc\tt1w: dice_template 0.850 < 0.9\n"
    )
    out_md = tmp_path / "comparison.md"
    argv = [
        "compare-experiments",
        "--summaries",
        str(summaries["lora"]),
        "--runs-glob",
        str(summaries["root"] / "models" / "lora" / "fold-*" / "run.json"),
        "--out-tsv",
        str(tmp_path / "c.tsv"),
        "--out-md",
        str(out_md),
        "--qc-excluded",
        str(qc_excluded),
    ]
    assert cli_main(argv) == 0
    text = out_md.read_text()
    assert (
        "## Subjects left out (1)" in text and "| sub-05 | n/a | QC limits | t1w: dice_template 0.850 < 0.9 |" in text
    )


def test_federated_experiments_show_their_strategy_and_bytes_beside_centralized_ones(summaries, tmp_path: Path) -> None:
    federated = {"federated": {"strategy": "fedavg"}, "bytes_per_round": 6_000_000.0, "bytes_total": 60_000_000}
    dirs = make_experiment_dirs(tmp_path, "lora-fed", **federated)
    aggregate_experiment("lora-fed", dirs, tmp_path / "metrics" / "lora-fed", FAST)
    runs = sorted(summaries["root"].glob("models/lora/fold-*/run.json")) + sorted(
        tmp_path.glob("models/*/fold-*/run.json")
    )
    frame = comparison_frame([summaries["lora"], tmp_path / "metrics" / "lora-fed" / "summary.json"], runs, FAST)
    assert frame["strategy"].tolist() == [None, "fedavg"]
    assert frame["bytes_per_round"].tolist()[1] == pytest.approx(6e6) and pd.isna(frame["bytes_total"][0])
    markdown = markdown_table(frame).splitlines()
    assert markdown[0].endswith("| Strategy | MB/round | MB total |")
    assert markdown[2].endswith("| centralized | centralized |") and markdown[3].endswith("| fedavg | 6 | 60 |")
    assert "strategy" not in comparison_frame([summaries["lora"]], runs[:3], FAST).columns
