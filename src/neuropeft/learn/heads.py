"""Prediction heads on pooled features (``linear``, ``mlp``) or on a spatial feature map (``conv``,
``conv_s``, ``conv_l``)."""

from __future__ import annotations

from torch import nn

from neuropeft.choices import look_up_option

#: head name -> one-line description
HEADS = {
    "linear": "Linear(features, outputs) on the pooled features",
    "mlp": "Linear, ReLU, Dropout, Linear on the pooled features",
    "conv": "1x1 and 3x3 convolutions on the spatial feature map, pooled, Dropout, Linear",
    "conv_s": "small convolutional adapter (the fifth seed's CONV S): 2 x [Conv3d 3x3x3 to 128 channels, "
    "GroupNorm, ReLU] on the spatial feature map, pooled, Dropout, Linear",
    "conv_l": "large convolutional adapter (CONV L): 3 x [Conv3d 3x3x3 to 192 channels, GroupNorm, ReLU] "
    "on the spatial feature map, pooled, Dropout, Linear",
}
#: heads that take the backbone's spatial feature map instead of the pooled features
MAP_HEADS = {"conv", "conv_s", "conv_l"}
#: convolutional adapters: name -> (width, number of 3x3x3 convolutions); head_hidden does not apply
CONV_ADAPTERS = {"conv_s": (128, 2), "conv_l": (192, 3)}
GROUPS = 8  # GroupNorm groups of the adapters (no batch statistics: any batch size and map size)


def conv_adapter(in_features: int, out_features: int, width: int, depth: int, dropout: float) -> list[nn.Module]:
    """``depth`` × [Conv3d(3×3×3, padding 1, no bias) to ``width`` channels, GroupNorm(8), ReLU], global
    average pool, Dropout, Linear(width, out_features).

    On SAM-Med3D's 384 × 8³ map with 2 outputs: ``conv_s`` (128, 2) has 1,327,104 + 256 + 442,368 +
    256 + 258 = 1,770,242 parameters (the seed's CONV S is about 1.7 M); ``conv_l`` (192, 3) has
    1,990,656 + 2 × 995,328 + 3 × 384 + 386 = 3,982,850.
    """
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [
            nn.Conv3d(in_features if i == 0 else width, width, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(GROUPS, width),
            nn.ReLU(),
        ]
    return [*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, out_features)]


def build_head(
    name: str, in_features: int, out_features: int, hidden: int = 256, dropout: float = 0.0, norm: bool = False
) -> nn.Module:
    """``linear``: Linear(d, K); ``mlp``: Linear(d, hidden), ReLU, Dropout, Linear(hidden, K) (the first
    seed's 4096→256→2); ``conv``: Conv3d(d, hidden, 1), ReLU, Conv3d(hidden, hidden, 3), ReLU, global
    average pool, Dropout, Linear(hidden, K); ``conv_s`` / ``conv_l``: see :func:`conv_adapter`.

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
    if name in CONV_ADAPTERS:
        return nn.Sequential(*first, *conv_adapter(in_features, out_features, *CONV_ADAPTERS[name], dropout))
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
