"""Cross-modal adaptation: the new stem starts at zero, A-only input is predicted exactly as the source
model does (no forgetting), a subject lacking B is predicted from A alone, and B's signal is learnt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.learn.cross_modal import AddedStem, source_channels_in
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.learn.predict import load_fold_model

STACK = ["t1w", "dwi"]  # channels: T1w, FA, MD
BY_INPUT = "predictions_by_input.tsv"


def _stack(root: Path, n_subjects: int = 48, side: int = 16, lacking_dwi: bool = True) -> tuple[Path, Path, Path]:
    """T1w noise without the effect; FA carries the label; every fifth subject has no DWI (zeros)."""
    rng = np.random.default_rng(0)
    volumes, rows = [], []
    c = slice(side // 4, 3 * side // 4)
    for i in range(n_subjects):
        label = i % 2
        volume = rng.normal(0, 1, (3, side, side, side)).astype(np.float32)
        volume[1, c, c, c] += 1.5 * label
        if lacking_dwi and i % 5 == 4:
            volume[1:] = 0.0
        volumes.append(volume)
        rows.append((i, f"sub-{i + 1:03d}", "n/a", label, "site0"))
    array, index = root / "model_input.npy", root / "model_input.tsv"
    np.save(array, np.stack(volumes))
    pd.DataFrame(rows, columns=["row", "participant_id", "session", "target", "site"]).to_csv(
        index, sep="\t", index=False
    )
    folds = root / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=3, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    return array, index, folds


def _train(array: Path, index: Path, folds: Path, out: Path, settings: dict, source: Path | None = None) -> int:
    extra = ["--source-model", str(source)] if source else []
    return cli_main(
        [
            "train",
            *("--array", str(array), "--index", str(index), "--folds", str(folds), "--fold", "0"),
            *("--out-dir", str(out), "--device", "cpu", "--settings", json.dumps(settings), *extra),
        ]
    )


def _outputs(model_dir: Path, volumes: torch.Tensor) -> torch.Tensor:
    model, _, _ = load_fold_model(model_dir, torch.device("cpu"))
    with torch.no_grad():
        return model(volumes)


def test_the_added_stem_starts_as_the_source_convolution_and_learns() -> None:
    source = nn.Conv3d(1, 4, kernel_size=3, padding=1, bias=False)
    stem = AddedStem(source, [0], [1, 2])
    x = torch.randn(2, 3, 6, 6, 6)
    assert torch.equal(stem(x), source(x[:, [0]]))
    stem(x).sum().backward()
    assert stem.new.weight.grad is not None and stem.new.weight.grad.abs().sum() > 0


def test_the_source_must_take_fewer_modalities() -> None:
    mine = ExperimentSettings(name="adapted", modalities=["t1w"], stack_modalities=STACK)
    source = ExperimentSettings(name="both", modalities=["t1w", "dwi"], stack_modalities=STACK)
    with pytest.raises(NeuropeftError, match="at least one more"):
        source_channels_in(mine, source)
    assert source_channels_in(source, mine) == ([0], [1, 2])


@pytest.mark.parametrize("source_method", ["full", "lora", "dora"])
def test_adaptation_keeps_a_only_predictions_and_learns_b(tmp_path: Path, source_method: str) -> None:
    array, index, folds = _stack(tmp_path)
    common = {"backbone": "resnet10", "head": "linear", "stack_modalities": STACK, "batch_size": 4, "seed": 0}
    source_settings = {**common, "name": "t1w", "modalities": ["t1w"], "method": source_method, "epochs": 1}
    assert _train(array, index, folds, tmp_path / "t1w", source_settings) == 0
    adapted_settings = {
        **common,
        "name": "t1w-to-dwi",
        "modalities": ["t1w", "dwi"],
        "method": "lora",
        "lora_rank": 4,
        "cross_modal": {"from": "t1w"},
        "epochs": 6,
        "lr": 3e-3,
        "warmup_epochs": 1,
    }
    assert _train(array, index, folds, tmp_path / "adapted", adapted_settings, source=tmp_path / "t1w") == 0

    stacked = torch.from_numpy(np.load(array))
    t1w_only = stacked.clone()
    t1w_only[:, 1:] = 0.0
    source_out = _outputs(tmp_path / "t1w", stacked[:, [0]])
    adapted_a_only = _outputs(tmp_path / "adapted", t1w_only)
    # no forgetting: A-only input goes through the frozen source (its LoRA merged: float rounding only)
    if source_method == "full":
        assert torch.equal(adapted_a_only, source_out)
    else:
        torch.testing.assert_close(adapted_a_only, source_out, rtol=1e-5, atol=1e-5)

    run = json.loads((tmp_path / "adapted" / "run.json").read_text())
    assert run["cross_modal_source"] == str(tmp_path / "t1w")
    assert run["trainable_params"] < run["total_params"] / 10
    assert run["input_shape"][0] == 3
    # subjects lacking DWI are predicted from T1w alone, as the source model predicts them
    adapted = pd.read_csv(tmp_path / "adapted" / "predictions.tsv", sep="\t").set_index("participant_id")
    source = pd.read_csv(tmp_path / "t1w" / "predictions.tsv", sep="\t").set_index("participant_id")
    lacking = [f"sub-{i + 1:03d}" for i in range(4, 48, 5) if f"sub-{i + 1:03d}" in adapted.index]
    assert lacking, "the fold's test part has no subject without DWI"
    np.testing.assert_allclose(adapted.loc[lacking, "prob_1"], source.loc[lacking, "prob_1"], atol=1e-5)
    # with DWI the adapted model reads the FA effect the T1w lacks
    with_dwi = adapted.drop(index=lacking)
    assert roc_auc_score(with_dwi["y_true"], with_dwi["prob_1"]) > 0.8

    # scoring the multi-modal stack with the T1w model takes its channel alone
    scored = tmp_path / "scored.tsv"
    command = ["predict", "--array", str(array), "--index", str(index), "--model-dir", str(tmp_path / "t1w")]
    assert cli_main([*command, "--out", str(scored), "--device", "cpu"]) == 0
    scored_rows = pd.read_csv(scored, sep="\t").set_index("participant_id").loc[source.index]
    np.testing.assert_allclose(scored_rows["prob_1"], source["prob_1"], atol=1e-6)

    # the modality comparison: the A-only metric is the source's, A+B beats it, the lacking ones are counted
    for name in ("t1w", "adapted"):
        command = ["predict-inputs", "--array", str(array), "--index", str(index), "--folds", str(folds)]
        assert cli_main([*command, "--model-dir", str(tmp_path / name), "--out", str(tmp_path / name / BY_INPUT)]) == 0
    table = tmp_path / "modalities.tsv"
    fold_dirs = [str(tmp_path / "t1w"), str(tmp_path / "adapted")]
    command = ["modality-table", "--fold-dirs", *fold_dirs, "--out-tsv", str(table), "--out-md", str(tmp_path / "m.md")]
    assert cli_main(command) == 0
    rows = pd.read_csv(table, sep="\t").set_index("experiment")
    assert rows.loc["t1w-to-dwi", "auc_t1w"] == pytest.approx(rows.loc["t1w", "auc_t1w"], abs=1e-6)
    assert np.isnan(rows.loc["t1w", "auc_dwi"])
    assert rows.loc["t1w-to-dwi", "auc_t1w+dwi"] > rows.loc["t1w", "auc_t1w+dwi"]
    assert rows.loc["t1w-to-dwi", "test_subjects_lacking_a_modality"] == len(lacking)
    assert rows.loc["t1w", "test_subjects_lacking_a_modality"] == 0
    assert "| t1w-to-dwi | t1w+dwi | lora on t1w |" in (tmp_path / "m.md").read_text()


def test_a_cross_modal_experiment_needs_its_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    array, index, folds = _stack(tmp_path, n_subjects=12, lacking_dwi=False)
    settings = {"name": "x", "stack_modalities": STACK, "cross_modal": {"from": "t1w"}, "epochs": 1}
    assert _train(array, index, folds, tmp_path / "out", settings) != 0
    assert "--source-model" in capsys.readouterr().err
