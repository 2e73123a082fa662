"""The trained network: a backbone and a head, keeping frozen BatchNorm layers in eval mode."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import Backbone, build_backbone
from neuropeft.learn.heads import MAP_HEADS, build_head


class BackboneWithHead(nn.Module):
    """``head(backbone(x))``, or ``head(backbone.feature_map(x))`` for a map head.

    ``train()`` leaves every backbone BatchNorm whose parameters are all frozen in eval mode, so
    methods that freeze the backbone never change its running statistics (they are not saved with
    adapters). The head's parameter-free feature BatchNorm (``head_norm``) does learn its statistics.
    """

    def __init__(self, backbone: Backbone, head: nn.Module, use_map: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.use_map = use_map

    def features(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor]) -> torch.Tensor:
        """What the head takes: the backbone's pooled features (B, D) or, for a map head, its feature map;
        given (volumes, covariates), the pooled features with the covariates (B, D + K) appended."""
        if isinstance(x, (list, tuple)):
            volumes, covariates = x
            pooled = self.backbone(volumes)
            return torch.cat([pooled, covariates.to(pooled.dtype)], dim=1)
        return self.backbone.feature_map(x) if self.use_map else self.backbone(x)

    def forward(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor]) -> torch.Tensor:
        """Outputs (B, K)."""
        return self.head(self.features(x))

    def frozen_backbone(self) -> bool:
        """Whether the backbone is frozen and runs in training as in evaluation (no parameter trains, no
        dropout; its frozen BatchNorm layers stay in eval mode): its features can then be computed once."""
        modules = list(self.backbone.modules())
        return not any(p.requires_grad for p in self.backbone.parameters()) and not any(
            isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in modules
        )

    def train(self, mode: bool = True) -> BackboneWithHead:
        """Set train/eval mode, keeping the backbone's frozen BatchNorm layers in eval mode."""
        super().train(mode)
        if mode:
            for module in self.backbone.modules():
                if isinstance(module, _BatchNorm) and not any(p.requires_grad for p in module.parameters()):
                    module.eval()
        return self


def build_model(
    backbone_name: str,
    head_name: str,
    in_channels: int,
    input_shape: tuple[int, ...],
    out_features: int,
    head_hidden: int = 256,
    head_dropout: float = 0.0,
    head_norm: bool = False,
    n_covariates: int = 0,
) -> BackboneWithHead:
    """A randomly initialised backbone + head; the head takes ``n_covariates`` encoded covariates beside the
    pooled features (a map head takes none)."""
    if n_covariates and head_name in MAP_HEADS:
        raise NeuropeftError(
            f"head {head_name!r} works on the feature map and takes no covariates; use head linear or mlp"
        )
    backbone = build_backbone(backbone_name, in_channels, input_shape)
    return BackboneWithHead(
        backbone,
        build_head(head_name, backbone.feature_dim + n_covariates, out_features, head_hidden, head_dropout, head_norm),
        use_map=head_name in MAP_HEADS,
    )
