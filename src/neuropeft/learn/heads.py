"""Prediction heads on pooled features (``linear``, ``mlp``) or on a spatial feature map (``conv``)."""

from __future__ import annotations

from torch import nn

from neuropeft.errors import NeuropeftError

#: heads that take the backbone's spatial feature map instead of the pooled features
MAP_HEADS = {"conv"}


def build_head(name: str, in_features: int, out_features: int, hidden: int = 256, dropout: float = 0.0) -> nn.Module:
    """``linear``: Linear(d, K); ``mlp``: Linear(d, hidden), ReLU, Dropout, Linear(hidden, K) (the first
    seed's 4096→256→2); ``conv``: Conv3d(d, hidden, 1), ReLU, Conv3d(hidden, hidden, 3), ReLU, global
    average pool, Dropout, Linear(hidden, K)."""
    if name == "linear":
        return nn.Linear(in_features, out_features)
    if name == "mlp":
        return nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_features)
        )
    if name == "conv":
        return nn.Sequential(
            nn.Conv3d(in_features, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Conv3d(hidden, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )
    raise NeuropeftError(f"unknown head {name!r}; choose linear, mlp or conv")
