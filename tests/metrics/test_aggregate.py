"""``aggregate-experiment``: per-fold and pooled metrics, pooled predictions, plots, missing inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.aggregate import aggregate_experiment
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.kaplan_meier import risk_groups

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = MetricsSettings(bootstrap=60, seed=3)


def assert_png(path: Path) -> None:
    assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC, path


def test_classification_experiment(make_experiment, tmp_path: Path) -> None:
    dirs = make_experiment("lora_cls", n_folds=3, n=20)
    out = tmp_path / "metrics" / "lora_cls"
    summary = aggregate_experiment("lora_cls", dirs, out, FAST)

    tables = [pd.read_csv(d / "predictions.tsv", sep="\t") for d in dirs]
    fold_accuracy = [float(np.mean(t["y_true"] == t["y_pred"])) for t in tables]
    pooled = pd.concat(tables)

    per_fold = pd.read_csv(out / "fold_metrics.tsv", sep="\t")
    assert per_fold["fold"].tolist() == [0, 1, 2]
    assert per_fold["n"].tolist() == [20, 20, 20]
    assert per_fold["accuracy"].tolist() == pytest.approx(fold_accuracy)

    written = json.loads((out / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    accuracy = written["metrics"]["accuracy"]
    assert accuracy["mean"] == pytest.approx(np.mean(fold_accuracy))
    assert accuracy["sd"] == pytest.approx(np.std(fold_accuracy, ddof=1))
    assert accuracy["pooled"] == pytest.approx(float(np.mean(pooled["y_true"] == pooled["y_pred"])))
    for name, values in written["metrics"].items():
        assert values["ci_low"] <= values["pooled"] <= values["ci_high"], name
    assert set(written["metrics"]) == {
        "accuracy",
        "balanced_accuracy",
        "auc",
        "sensitivity",
        "specificity",
        "f1",
        "brier",
    }
    brier = float(np.mean((pooled["prob_1"] - pooled["y_true"]) ** 2))
    assert written["metrics"]["brier"]["pooled"] == pytest.approx(brier)
    assert (written["task"], written["classes"], written["n_folds"], written["n_predictions"]) == (
        "classification",
        ["0", "1"],
        3,
        60,
    )
    assert (written["backbone"], written["method"], written["head"]) == ("resnet50", "lora", "mlp")
    assert written["settings"]["bootstrap"] == 60

    oof = pd.read_csv(
        out / "oof_predictions.tsv", sep="\t", dtype={"participant_id": str, "session": str}, keep_default_na=False
    )
    assert len(oof) == 60 and set(oof["participant_id"]) == set(pooled["participant_id"])
    assert (oof["session"] == "n/a").all()
    for name in ("roc.png", "curves.png", "reliability.png"):
        assert_png(out / name)
    assert (out / "roc.svg").read_text().lstrip().startswith("<?xml")
    assert not (out / "pred_vs_true.png").exists()


def test_regression_experiment_via_cli(make_experiment, tmp_path: Path) -> None:
    dirs = make_experiment("age_reg", task="regression", n_folds=2, n=15)
    out = tmp_path / "metrics" / "age_reg"
    status = cli_main(
        [
            "aggregate-experiment",
            "--experiment",
            "age_reg",
            "--fold-dirs",
            *map(str, dirs),
            "--out-dir",
            str(out),
            "--settings",
            json.dumps({"bootstrap": 50, "seed": 1}),
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["metrics"]) == {"mae", "rmse", "pearson_r", "r2"}
    pooled = pd.concat(pd.read_csv(d / "predictions.tsv", sep="\t") for d in dirs)
    residual = ((pooled["y_true"] - pooled["y_pred"]) ** 2).sum()
    r2 = 1 - residual / ((pooled["y_true"] - pooled["y_true"].mean()) ** 2).sum()
    assert summary["metrics"]["r2"]["pooled"] == pytest.approx(r2)
    assert summary["metrics"]["mae"]["pooled"] == pytest.approx(
        float(np.mean(np.abs(pooled["y_true"] - pooled["y_pred"])))
    )
    assert_png(out / "pred_vs_true.png")
    assert_png(out / "curves.png")
    assert not (out / "roc.png").exists() and not (out / "reliability.png").exists()


def test_missing_fold_file_is_an_error_naming_it(make_experiment, tmp_path: Path, capsys) -> None:
    dirs = make_experiment("lora_cls", n_folds=3)
    (dirs[1] / "history.tsv").unlink()
    out = tmp_path / "metrics" / "lora_cls"
    with pytest.raises(NeuropeftError, match=r"missing fold file .*fold-1/history\.tsv"):
        aggregate_experiment("lora_cls", dirs, out, FAST)
    assert not out.exists() or not any(out.iterdir())

    status = cli_main(
        ["aggregate-experiment", "--experiment", "lora_cls", "--fold-dirs", *map(str, dirs), "--out-dir", str(out)]
    )
    assert status == 1
    assert "fold-1/history.tsv" in capsys.readouterr().err


def test_fold_of_another_experiment_is_refused(make_experiment, tmp_path: Path) -> None:
    dirs = make_experiment("lora_cls", n_folds=2) + make_experiment("full_cls", n_folds=1)
    with pytest.raises(NeuropeftError, match="belongs to experiment 'full_cls'"):
        aggregate_experiment("lora_cls", dirs, tmp_path / "out", FAST)


def test_unknown_setting_is_refused(make_experiment, tmp_path: Path, capsys) -> None:
    dirs = make_experiment("lora_cls", n_folds=2)
    status = cli_main(
        [
            "aggregate-experiment",
            "--experiment",
            "lora_cls",
            "--fold-dirs",
            *map(str, dirs),
            "--out-dir",
            str(tmp_path / "out"),
            "--settings",
            '{"bootstraps": 5}',
        ]
    )
    assert status == 1
    assert "bootstraps" in capsys.readouterr().err


def test_survival_experiment(make_experiment, tmp_path: Path) -> None:
    dirs = make_experiment("prognosis", task="survival", n_folds=3, n=30)
    out = tmp_path / "metrics" / "prognosis"
    summary = aggregate_experiment("prognosis", dirs, out, MetricsSettings(bootstrap=100, seed=0))
    assert summary["task"] == "survival" and set(summary["metrics"]) == {"c_index"}
    pooled = pd.concat(pd.read_csv(d / "predictions.tsv", sep="\t") for d in dirs)
    expected = concordance_index(pooled["time"], -pooled["risk"], pooled["event"])
    c_index = summary["metrics"]["c_index"]
    assert c_index["pooled"] == pytest.approx(expected)
    assert 0.6 < c_index["pooled"] and c_index["ci_low"] < c_index["pooled"] < c_index["ci_high"]
    folds = pd.read_csv(out / "fold_metrics.tsv", sep="\t")
    assert c_index["mean"] == pytest.approx(folds["c_index"].mean())
    assert_png(out / "kaplan_meier.png")
    assert not (out / "roc.png").exists() and not (out / "pred_vs_true.png").exists()


def test_risk_groups_split_each_fold_at_its_median() -> None:
    oof = pd.DataFrame({"fold": [0, 0, 0, 0, 1, 1], "risk": [1.0, 2.0, 3.0, 4.0, 100.0, 200.0]})
    assert risk_groups(oof).tolist() == ["low", "low", "high", "high", "low", "high"]
