"""Kaplan–Meier curves of predicted risk groups (``task: survival``), with lifelines.

Each fold's test subjects are split at that fold's median predicted risk (risk scores of different
fold models are not on one scale), the halves pooled into a high- and a low-risk group; the figure
shows each group's Kaplan–Meier estimate with its 95 % band and the log-rank test between them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuropeft.outcomes import concordance


def risk_groups(oof: pd.DataFrame) -> pd.Series:
    """``high`` or ``low`` per row: above its fold's median risk, or not."""
    median = oof.groupby("fold")["risk"].transform("median")
    return pd.Series(np.where(oof["risk"] > median, "high", "low"), index=oof.index)


def kaplan_meier_figure(oof: pd.DataFrame, title: str) -> Figure:
    """Kaplan–Meier curves of the high- and low-risk groups, the log-rank p and the C-index of the pooled
    out-of-fold risks (risk scales differ between fold models: the per-fold mean is the comparison's)."""
    from lifelines import KaplanMeierFitter  # here: lifelines takes 1.5 s to import
    from lifelines.statistics import logrank_test

    groups = risk_groups(oof)
    figure = Figure(figsize=(5.5, 4.5))
    ax = figure.subplots()
    for name, color in (("low", "C0"), ("high", "C3")):
        part = oof[groups == name]
        if part.empty:
            continue
        fitter = KaplanMeierFitter(label=f"{name} risk (n = {len(part)}, {int(part['event'].sum())} events)")
        fitter.fit(part["time"], part["event"])
        fitter.plot_survival_function(ax=ax, color=color, ci_show=True)
    high, low = oof[groups == "high"], oof[groups == "low"]
    p_value = float("nan")
    if not high.empty and not low.empty:
        p_value = logrank_test(high["time"], low["time"], high["event"], low["event"]).p_value
    c_index = concordance(oof["time"].to_numpy(float), oof["event"].to_numpy(int), oof["risk"].to_numpy(float))
    ax.set(
        xlabel="time",
        ylabel="event-free probability",
        ylim=(0.0, 1.02),
        title=f"{title}\nsplit at each fold's median risk; log-rank p = {p_value:.3g}, pooled C-index {c_index:.3f}",
    )
    ax.legend(loc="lower left", fontsize="small")
    return figure
