"""A federated experiment's figures, as the fifth seed shows them: test AUC per site with a bootstrap
95% CI (its Figure 3), the aggregation weight of each site per round (Figure 5), and each site's
intensity profile after normalisation (kernel density of brain voxels; Figure 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.metrics.bootstrap import bootstrap_ci
from neuropeft.metrics.compute import compute_metrics
from neuropeft.metrics.config import MetricsSettings
from neuropeft.metrics.plots import save_figure

#: brain voxels drawn per site and channel for its intensity profile (a kernel density needs no more)
PROFILE_VOXELS = 20_000


def site_auc(predictions: pd.DataFrame, settings: MetricsSettings) -> pd.DataFrame:
    """Per site: its test subjects over all folds (each tested once), AUC and bootstrap CI."""
    if "site" not in predictions.columns:
        raise NeuropeftError("the predictions have no site column; they are not a federated experiment's")
    rows = []
    for site, part in predictions.groupby("site", sort=True):
        low, high = bootstrap_ci(part, settings.bootstrap, settings.seed, settings.ci_level)["auc"]
        rows.append({"site": site, "n": len(part), "auc": compute_metrics(part)["auc"], "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def site_auc_figure(table: pd.DataFrame, title: str) -> Figure:
    """Test AUC per site with its CI as error bars."""
    figure = Figure(figsize=(1.2 + 0.9 * len(table), 3.2))
    ax = figure.subplots()
    x = np.arange(len(table))
    errors = np.vstack([table["auc"] - table["ci_low"], table["ci_high"] - table["auc"]]).clip(min=0)
    ax.bar(x, table["auc"], color="#4c72b0", yerr=errors, capsize=4)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(x, [f"{s}\n(n={n})" for s, n in zip(table["site"], table["n"], strict=True)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test AUC (95% CI)")
    ax.set_title(title)
    return figure


def weights_figure(weights: pd.DataFrame, title: str) -> Figure:
    """Each site's aggregation weight per round (mean over folds, the folds' range shaded)."""
    figure = Figure(figsize=(5, 3.2))
    ax = figure.subplots()
    for site, part in weights.groupby("site", sort=True):
        stats = part.groupby("round")["weight"].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=str(site))
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15)
    ax.set_xlabel("round")
    ax.set_ylabel("aggregation weight")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return figure


def federation_figures(fold_dirs: list[Path], experiment: str, out_dir: Path, settings: MetricsSettings) -> None:
    """site_auc.tsv/.png and client_weights.png of one federated experiment's fold folders."""
    predictions = pd.concat(
        [pd.read_csv(d / "predictions.tsv", sep="\t", dtype={"participant_id": str, "site": str}) for d in fold_dirs]
    )
    weights = pd.concat([pd.read_csv(d / "client_weights.tsv", sep="\t", dtype={"site": str}) for d in fold_dirs])
    table = site_auc(predictions, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tsv(table, out_dir / "site_auc.tsv")
    save_figure(site_auc_figure(table, f"{experiment}: test AUC per site"), [out_dir / "site_auc.png"])
    save_figure(weights_figure(weights, f"{experiment}: aggregation weights"), [out_dir / "client_weights.png"])


def intensity_profiles(array_path: Path, index_path: Path, out_path: Path, seed: int = 0) -> None:
    """Kernel density of each site's brain voxels (non-zero after normalisation), one panel per channel."""
    array = np.load(array_path, mmap_mode="r")
    index = pd.read_csv(index_path, sep="\t", dtype=str, keep_default_na=False)
    if "site" not in index.columns:
        raise NeuropeftError(f"{index_path} has no site column; set site_column in the config")
    rng = np.random.default_rng(seed)
    channels = array.shape[1]
    figure = Figure(figsize=(4.2 * channels, 3.2))
    axes = np.atleast_1d(figure.subplots(1, channels))
    for c, ax in enumerate(axes):
        for site, part in index.groupby("site", sort=True):
            values = np.concatenate([np.asarray(array[int(r), c]).ravel() for r in part["row"]])
            values = values[values != 0]
            if values.size < 2:
                continue
            values = rng.choice(values, size=min(PROFILE_VOXELS, values.size), replace=False)
            grid = np.linspace(*np.percentile(values, [0.5, 99.5]), 200)
            ax.plot(grid, gaussian_kde(values)(grid), label=f"{site} (n={len(part)})")
        ax.set_xlabel(f"normalised intensity, channel {c}")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    figure.suptitle("brain-voxel intensity per site")
    save_figure(figure, [out_path])
