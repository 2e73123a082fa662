"""Ensembles: mean class probabilities (arg-max label) or mean values, per subject, across tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.cli import main as cli_main


def _write(path: Path, rows: list[tuple], columns: list[str]) -> Path:
    pd.DataFrame(rows, columns=columns).to_csv(path, sep="\t", index=False)
    return path


CLASS_COLUMNS = ["participant_id", "session", "fold", "y_true", "prob_0", "prob_1", "y_pred"]


def _ensemble(paths: list[Path], out: Path) -> int:
    return cli_main(["ensemble", "--predictions", *map(str, paths), "--out", str(out)])


def test_classification_mean_probabilities_and_argmax(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "a.tsv",
        [("sub-001", "n/a", 0, 1, 0.4, 0.6, 1), ("sub-002", "n/a", 0, 0, 0.9, 0.1, 0)],
        CLASS_COLUMNS,
    )
    # rows in another order; on sub-001 two of three models vote 1, but the mean probability favours 0
    b = _write(
        tmp_path / "b.tsv",
        [("sub-002", "n/a", 1, 0, 0.7, 0.3, 0), ("sub-001", "n/a", 1, 1, 0.45, 0.55, 1)],
        CLASS_COLUMNS,
    )
    c = _write(
        tmp_path / "c.tsv",
        [("sub-001", "n/a", 2, 1, 0.95, 0.05, 0), ("sub-002", "n/a", 2, 0, 0.2, 0.8, 1)],
        CLASS_COLUMNS,
    )
    assert _ensemble([a, b, c], tmp_path / "ens.tsv") == 0
    out = pd.read_csv(tmp_path / "ens.tsv", sep="\t", keep_default_na=False)
    assert list(out.columns) == CLASS_COLUMNS
    assert out["participant_id"].tolist() == ["sub-001", "sub-002"] and (out["fold"] == "ensemble").all()
    assert out["session"].tolist() == ["n/a", "n/a"] and out["y_true"].tolist() == [1, 0]
    assert out["prob_0"].tolist() == pytest.approx([0.6, 0.6]) and out["prob_1"].tolist() == pytest.approx([0.4, 0.4])
    assert out["y_pred"].tolist() == [0, 0]


def test_two_classes_are_called_at_the_mean_of_the_models_fitted_thresholds(tmp_path: Path) -> None:
    rows = [("sub-001", "n/a", 0, 1, 0.48, 0.52, 1), ("sub-002", "n/a", 0, 0, 0.53, 0.47, 0)]
    a = _write(tmp_path / "a.tsv", rows, CLASS_COLUMNS)
    b = _write(tmp_path / "b.tsv", rows, CLASS_COLUMNS)
    runs = [tmp_path / "a.json", tmp_path / "b.json"]
    runs[0].write_text(json.dumps({"threshold": 0.48}))
    runs[1].write_text(json.dumps({"threshold": 0.54}))  # mean 0.51: sub-001 (0.52) positive, sub-002 (0.47) not
    out = tmp_path / "ens.tsv"
    arguments = ["ensemble", "--predictions", str(a), str(b), "--out", str(out)]
    assert cli_main([*arguments, "--run-jsons", *map(str, runs)]) == 0
    assert pd.read_csv(out, sep="\t")["y_pred"].tolist() == [1, 0]
    runs[1].write_text(json.dumps({"threshold": 0.6}))  # mean 0.54: both negative
    assert cli_main([*arguments, "--run-jsons", *map(str, runs)]) == 0
    assert pd.read_csv(out, sep="\t")["y_pred"].tolist() == [0, 0]
    runs[1].write_text(json.dumps({"threshold": None}))  # a model without one: the arg-max
    assert cli_main([*arguments, "--run-jsons", *map(str, runs)]) == 0
    assert pd.read_csv(out, sep="\t")["y_pred"].tolist() == [1, 0]


def test_regression_mean_values_with_unknown_truth(tmp_path: Path) -> None:
    columns = ["participant_id", "session", "fold", "y_true", "y_pred"]
    a = _write(tmp_path / "a.tsv", [("sub-001", "ses-1", 0, "", 40.0), ("sub-001", "ses-2", 0, 51.5, 50.0)], columns)
    b = _write(tmp_path / "b.tsv", [("sub-001", "ses-2", 1, 51.5, 56.0), ("sub-001", "ses-1", 1, "", 45.0)], columns)
    assert _ensemble([a, b], tmp_path / "ens.tsv") == 0
    out = pd.read_csv(tmp_path / "ens.tsv", sep="\t", keep_default_na=False)
    assert out["session"].tolist() == ["ses-1", "ses-2"] and out["y_true"].tolist() == ["", "51.5"]
    assert out["y_pred"].tolist() == pytest.approx([42.5, 53.0])


def test_mismatched_tables_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(
        tmp_path / "a.tsv",
        [("sub-001", "n/a", 0, 1, 0.4, 0.6, 1), ("sub-002", "n/a", 0, 0, 0.9, 0.1, 0)],
        CLASS_COLUMNS,
    )
    other = _write(
        tmp_path / "o.tsv",
        [("sub-001", "n/a", 1, 1, 0.4, 0.6, 1), ("sub-003", "n/a", 1, 0, 0.9, 0.1, 0)],
        CLASS_COLUMNS,
    )
    truth = _write(
        tmp_path / "t.tsv",
        [("sub-001", "n/a", 1, 0, 0.4, 0.6, 1), ("sub-002", "n/a", 1, 0, 0.9, 0.1, 0)],
        CLASS_COLUMNS,
    )
    three = _write(
        tmp_path / "k.tsv",
        [("sub-001", "n/a", 1, 1, 0.2, 0.2, 0.6, 2), ("sub-002", "n/a", 1, 0, 0.8, 0.1, 0.1, 0)],
        ["participant_id", "session", "fold", "y_true", "prob_0", "prob_1", "prob_2", "y_pred"],
    )
    for bad, message in (
        (other, "sub-002 session 'n/a' is in only one of"),
        (truth, "y_true of sub-001 differs"),
        (three, "prob_<class> columns differ"),
    ):
        assert _ensemble([a, bad], tmp_path / "ens.tsv") == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "ens.tsv").exists()
