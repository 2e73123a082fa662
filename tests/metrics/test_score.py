"""``neuropeft score``: metrics of one predictions table against values known by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.cli import main


def test_score_matches_hand_computed_values(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "participant_id": [f"sub-{i}" for i in range(8)],
            "fold": "ensemble",
            "y_true": [0, 0, 0, 0, 1, 1, 1, 1],
            "prob_0": [0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1],
            "prob_1": [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9],
            "y_pred": [0, 0, 0, 1, 0, 1, 1, 1],
        }
    )
    frame.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    out = tmp_path / "s.json"
    assert (
        main(
            [
                "score",
                "--predictions",
                str(tmp_path / "p.tsv"),
                "--name",
                "x/ensemble",
                "--out",
                str(out),
                "--settings",
                '{"bootstrap": 200}',
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(6 / 8)
    assert metrics["auc"]["value"] == pytest.approx(15 / 16)  # one discordant pair of 16
    assert metrics["sensitivity"]["value"] == pytest.approx(3 / 4)
    assert metrics["accuracy"]["ci_low"] <= 6 / 8 <= metrics["accuracy"]["ci_high"]


def test_missing_predictions_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["score", "--predictions", str(tmp_path / "none.tsv"), "--name", "x", "--out", str(tmp_path / "s.json")])
        == 1
    )
    assert "none.tsv" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
