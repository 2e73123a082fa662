"""The demo's prognosis against its truth: each experiment's C-index beside the true log hazard's.

Reads a finished survival run on the demo (``snakemake --cores 2 --configfile config/survival.yaml
--directory DIR``): every experiment's out-of-fold predictions and ``results/demo/truth/labels.tsv``.
For each fold the C-index of the predicted risk and of the true log hazard (the best any model can
rank these subjects, up to chance) on the same test subjects; then their means over folds.

    .venv/bin/python benchmarks/survival_truth.py --workdir DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from neuropeft.outcomes import concordance


def fold_rows(oof: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per fold: subjects, events, the model's C-index and the truth's on the same subjects."""
    merged = oof.merge(truth[["participant_id", "log_hazard"]], on="participant_id", validate="many_to_one")
    rows = []
    for fold, part in merged.groupby("fold", sort=True):
        times, events = part["time"].to_numpy(float), part["event"].to_numpy(int)
        rows.append(
            {
                "fold": fold,
                "n": len(part),
                "events": int(events.sum()),
                "model": concordance(times, events, part["risk"].to_numpy(float)),
                "truth": concordance(times, events, part["log_hazard"].to_numpy(float)),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="the run's working directory")
    args = parser.parse_args()
    results = args.workdir / "results"
    truth = pd.read_csv(results / "demo/truth/labels.tsv", sep="\t", dtype={"participant_id": str})
    print("experiment\tC-index model (mean ± SD over folds)\tC-index truth\tmodel / truth")
    for path in sorted(results.glob("metrics/*/oof_predictions.tsv")):
        oof = pd.read_csv(path, sep="\t", dtype={"participant_id": str})
        if "risk" not in oof.columns:
            continue
        folds = fold_rows(oof, truth)
        model, real = folds["model"], folds["truth"]
        print(
            f"{path.parent.name}\t{model.mean():.3f} ± {model.std(ddof=1):.3f}\t{real.mean():.3f} ± {real.std(ddof=1):.3f}"
            f"\t{model.mean() / real.mean():.2f}"
        )


if __name__ == "__main__":
    main()
