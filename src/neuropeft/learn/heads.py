"""Prediction heads on pooled features (``linear``, ``mlp``) or on a spatial feature map (``conv``)."""

from __future__ import annotations

from torch import nn

from neuropeft.choices import look_up_option

#: head name -> one-line description
HEADS = {
    "linear": "Linear(features, outputs) on the pooled features",
    "mlp": "Linear, ReLU, Dropout, Linear on the pooled features",
    "conv": "1x1 and 3x3 convolutions on the spatial feature map, pooled, Dropout, Linear",
}
#: heads that take the backbone's spatial feature map instead of the pooled features
MAP_HEADS = {"conv"}


def build_head(
    name: str, in_features: int, out_features: int, hidden: int = 256, dropout: float = 0.0, norm: bool = False
) -> nn.Module:
    """``linear``: Linear(d, K); ``mlp``: Linear(d, hidden), ReLU, Dropout, Linear(hidden, K) (the first
    seed's 4096→256→2); ``conv``: Conv3d(d, hidden, 1), ReLU, Conv3d(hidden, hidden, 3), ReLU, global
    average pool, Dropout, Linear(hidden, K).

    ``norm`` puts a BatchNorm without affine parameters first (MAE's linear-probe recipe): features
    of a frozen backbone can vary little between subjects, which stalls a head trained at usual rates.
    It adds no parameters, only running statistics.
    """
    look_up_option(name, HEADS, "head")
    first = [(nn.BatchNorm3d if name in MAP_HEADS else nn.BatchNorm1d)(in_features, affine=False)] if norm else []
    if name == "linear":
        return (
            nn.Sequential(*first, nn.Linear(in_features, out_features))
            if norm
            else nn.Linear(in_features, out_features)
        )
    if name == "mlp":
        return nn.Sequential(
            *first, nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_features)
        )
    return nn.Sequential(
        *first,
        nn.Conv3d(in_features, hidden, kernel_size=1),
        nn.ReLU(),
        nn.Conv3d(hidden, hidden, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )
