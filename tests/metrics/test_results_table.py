"""The README's demo table, regenerated from a run's results with the commit and machine it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.cli import main as cli_main
from neuropeft.metrics.results_table import END, START


def _results(root: Path) -> Path:
    (root / "metrics").mkdir(parents=True)
    pd.DataFrame(
        {
            "experiment": ["lora", "lora-fed"],
            "method": ["lora", "lora"],
            "auc": ["0.900 ± 0.100", "0.850 ± 0.120"],
            "trainable_params": [475906, 475906],
            "trainable_percent": [3.28, 3.28],
            "strategy": ["", "fedavg"],
            "bytes_per_round": ["", 11_500_000.0],
        }
    ).to_csv(root / "metrics" / "comparison.tsv", sep="\t", index=False)
    provenance = {"platform": "Linux-x86_64", "cpus": 2, "source": {"commit": "0123456789abcdef", "dirty": True}}
    (root / "provenance.json").write_text(json.dumps(provenance))
    return root


def test_the_table_replaces_the_old_one_and_names_its_commit(tmp_path: Path) -> None:
    results = _results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{START}\nold table\n{END}\nafter\n")
    assert cli_main(["results-table", "--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n" + START) and text.endswith(END + "\nafter\n")
    assert "old table" not in text and "commit 0123456789ab with uncommitted changes (Linux-x86_64, 2 CPUs)" in text
    assert "| lora | lora | 0.900 ± 0.100 | 475,906 (3.3%) |  |" in text
    assert "| lora-fed | lora | 0.850 ± 0.120 | 475,906 (3.3%) | fedavg, 11.5 |" in text


def test_a_readme_without_the_markers_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert cli_main(["results-table", "--results", str(results), "--readme", str(readme)]) == 1
    assert readme.read_text() == "no markers\n" and "results-table:start" in capsys.readouterr().err
