"""A run's comparison as a short Markdown table with the commit, machine and command it came from, so
the README's figures are regenerated from ``results/`` rather than typed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from neuropeft.atomic import write_text
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.table import percent_text

START, END = "<!-- results-table:start -->", "<!-- results-table:end -->"
#: the metric shown per task: the comparison table's formatted mean ± SD column
PRIMARY = {"auc": "AUC", "mae": "MAE", "c_index": "C-index"}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise NeuropeftError(f"missing {path}; run the workflow first (it writes it)") from None


def results_block(results: Path) -> str:
    """The table of ``results/metrics/comparison.tsv`` with ``results/provenance.json``'s commit and machine."""
    comparison = pd.read_csv(results / "metrics" / "comparison.tsv", sep="\t", keep_default_na=False)
    provenance = json.loads(_read(results / "provenance.json"))
    metric = next((m for m in PRIMARY if m in comparison.columns), None)
    if metric is None:
        raise NeuropeftError(f"{results / 'metrics' / 'comparison.tsv'} has none of AUC, MAE, C-index; rerun compare")
    federated = "strategy" in comparison.columns
    header = ["Experiment", "Method", f"{PRIMARY[metric]} (mean ± SD over folds)", "Trained parameters"]
    header += ["Federated: strategy, MB/round"] if federated else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for _, row in comparison.iterrows():
        cells = [str(row["experiment"]), str(row["method"]), str(row[metric])]
        cells.append(f"{int(row['trainable_params']):,} ({percent_text(float(row['trainable_percent']))})")
        if federated:
            cells.append(f"{row['strategy']}, {float(row['bytes_per_round']) / 1e6:.3g}" if row["strategy"] else "")
        lines.append("| " + " | ".join(cells) + " |")
    source = provenance.get("source", {"commit": "unknown", "dirty": False})
    commit = str(source["commit"])[:12] + (" with uncommitted changes" if source.get("dirty") else "")
    where = f"{provenance.get('platform', 'unknown platform')}, {provenance.get('cpus', '?')} CPUs"
    note = (
        f"From `{results}` of commit {commit} ({where}); "
        "`.venv/bin/neuropeft results-table --readme README.md` rewrites this table from a run."
    )
    return "\n".join([START, "", note, "", *lines, "", END]) + "\n"


def replace_block(readme: Path, block: str) -> None:
    """Put ``block`` in place of the one between the markers in ``readme`` (atomically)."""
    text = _read(readme)
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise NeuropeftError(f"{readme} needs one {START} … {END} pair where the table goes")
    before, rest = text.split(START)
    after = rest.split(END, 1)[1]
    write_text(readme, before + block.rstrip("\n") + after)
