"""A federated experiment's figures: per-site AUC with its bootstrap CI, weights per round, intensity profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.federation import site_auc

FAST = MetricsSettings(bootstrap=50, seed=0)


def _predictions(fold: int) -> pd.DataFrame:
    """Site a ranks its subjects perfectly, site b exactly backwards."""
    y = np.array([0, 1] * 4)
    frame = pd.DataFrame({"participant_id": [f"sub-{fold}{i}" for i in range(16)], "session": "n/a"})
    frame["site"] = ["a"] * 8 + ["b"] * 8
    frame["fold"] = fold
    frame["y_true"] = np.concatenate([y, y])
    frame["prob_1"] = np.concatenate([0.2 + 0.6 * y, 0.8 - 0.6 * y]) + np.arange(16) * 1e-3
    frame["prob_0"] = 1 - frame["prob_1"]
    frame["y_pred"] = (frame["prob_1"] > 0.5).astype(int)
    return frame


def test_each_site_gets_its_own_auc_and_interval() -> None:
    table = site_auc(pd.concat([_predictions(0), _predictions(1)]), FAST)
    assert table["site"].tolist() == ["a", "b"] and table["n"].tolist() == [16, 16]
    assert table["auc"].tolist() == pytest.approx([1.0, 0.0])
    assert table.loc[0, "ci_low"] == pytest.approx(1.0) and table.loc[1, "ci_high"] == pytest.approx(0.0)
    with pytest.raises(NeuropeftError, match="no site column"):
        site_auc(_predictions(0).drop(columns="site"), FAST)


def test_the_step_writes_the_table_and_both_figures(tmp_path: Path) -> None:
    dirs = []
    for fold in range(2):
        d = tmp_path / f"fold-{fold}"
        d.mkdir()
        _predictions(fold).to_csv(d / "predictions.tsv", sep="\t", index=False)
        weights = pd.DataFrame({"round": [1, 1, 2, 2], "site": ["a", "b"] * 2, "weight": [0.4, 0.6, 0.5, 0.5]})
        weights.to_csv(d / "client_weights.tsv", sep="\t", index=False)
        dirs.append(str(d))
    out = tmp_path / "metrics"
    command = ["federation-figures", "--experiment", "fed", "--fold-dirs", *dirs, "--out-dir", str(out)]
    assert cli_main([*command, "--settings", '{"bootstrap": 20}']) == 0
    assert pd.read_csv(out / "site_auc.tsv", sep="\t")["auc"].tolist() == pytest.approx([1.0, 0.0])
    assert (out / "site_auc.png").stat().st_size > 1000 and (out / "client_weights.png").stat().st_size > 1000


def test_intensity_profiles_are_drawn_per_site(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(1, 0.3, (4, 2, 6, 6, 6)).astype(np.float32))
    index = pd.DataFrame({"row": range(4), "participant_id": [f"sub-{i}" for i in range(4)], "site": list("aabb")})
    index.to_csv(tmp_path / "x.tsv", sep="\t", index=False)
    command = ["site-intensities", "--array", str(tmp_path / "x.npy"), "--index", str(tmp_path / "x.tsv")]
    assert cli_main([*command, "--out", str(tmp_path / "profiles.png")]) == 0
    assert (tmp_path / "profiles.png").stat().st_size > 1000
    index.drop(columns="site").to_csv(tmp_path / "x.tsv", sep="\t", index=False)
    assert cli_main([*command, "--out", str(tmp_path / "again.png")]) == 1 and not (tmp_path / "again.png").exists()
