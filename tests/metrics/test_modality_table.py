"""The modality table: the metric per input set against hand-made predictions, n/a where the model takes
none of the input's modalities, and the count of test subjects lacking one of the model's modalities."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.metrics.modality_table import write_modality_table


def _rows(inputs: str, present: str, probs: list[float], labels: list[int], start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": [f"sub-{start + i:02d}" for i in range(len(probs))],
            "session": "n/a",
            "fold": 0,
            "input": inputs,
            "present": present,
            "y_true": labels,
            "prob_0": [1 - p for p in probs],
            "prob_1": probs,
            "y_pred": [int(p >= 0.5) for p in probs],
        }
    )


def _fold(root: Path, name: str, modalities: list[str], frames: list[pd.DataFrame], trainable: int) -> Path:
    folder = root / name / "fold-0"
    folder.mkdir(parents=True)
    pd.concat(frames).to_csv(folder / "predictions_by_input.tsv", sep="\t", index=False)
    settings = {"modalities": modalities, "stack_modalities": ["t1w", "dwi"], "cross_modal": {}}
    run = {"experiment": name, "method": "full", "trainable_params": trainable, "settings": settings}
    (folder / "run.json").write_text(json.dumps(run))
    return folder


def test_metrics_per_input_set_and_the_subjects_lacking_a_modality(tmp_path: Path) -> None:
    labels = [0, 0, 1, 1]
    t1w_only = _fold(
        tmp_path,
        "a",
        ["t1w"],
        [
            _rows("t1w", "t1w+dwi", [0.1, 0.6, 0.4, 0.9], labels),
            _rows("t1w+dwi", "t1w+dwi", [0.1, 0.6, 0.4, 0.9], labels),
        ],
        100,
    )
    both = _fold(
        tmp_path,
        "b",
        [],
        [
            _rows("t1w", "t1w+dwi", [0.1, 0.6, 0.4, 0.9], labels),
            _rows("dwi", "t1w+dwi", [0.2, 0.3, 0.7, 0.8], labels),
            _rows("t1w+dwi", "t1w+dwi", [0.2, 0.3, 0.7, 0.8], labels),
            _rows("t1w", "t1w", [0.5, 0.5], [0, 1], start=10),  # two test subjects without DWI
        ],
        20,
    )
    out_tsv, out_md = tmp_path / "m.tsv", tmp_path / "m.md"
    write_modality_table([t1w_only, both], out_tsv, out_md)
    table = pd.read_csv(out_tsv, sep="\t").set_index("experiment")
    assert table.loc["a", "auc_t1w"] == pytest.approx(0.75)  # 3 of the 4 pairs ordered
    assert pd.isna(table.loc["a", "auc_dwi"])
    assert table.loc["b", "auc_dwi"] == pytest.approx(1.0) and table.loc["b", "auc_t1w+dwi"] == pytest.approx(1.0)
    assert table.loc["b", "auc_t1w"] == pytest.approx(5.5 / 9)  # with the two lacking DWI: 1 + 3 + 1.5 of 9 pairs
    assert table.loc["a", "test_subjects_lacking_a_modality"] == 0
    assert table.loc["b", "test_subjects_lacking_a_modality"] == 2
    assert table.loc["b", "modalities"] == "t1w+dwi" and table.loc["b", "trainable_params"] == 20
    markdown = out_md.read_text()
    assert "| a | t1w | full | 100 | 0.750 | n/a | 0.750 | 0 |" in markdown


def test_a_fold_without_its_input_predictions_is_named(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "run.json").write_text("{}")
    with pytest.raises(NeuropeftError, match="predictions_by_input.tsv is missing"):
        write_modality_table([tmp_path / "x"], tmp_path / "m.tsv", tmp_path / "m.md")
