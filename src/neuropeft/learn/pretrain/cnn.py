"""Pre-training of the ResNet backbones: reconstruction (autoencoder) and contrastive (SimCLR)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from neuropeft.learn.backbones import ResNetBackbone


def corrupt(x: torch.Tensor, mask_ratio: float, mask_patch: int, noise_std: float) -> torch.Tensor:
    """Zero a random ``mask_ratio`` of the ``mask_patch``-voxel cubes of each volume and add gaussian noise."""
    if mask_ratio > 0:
        b, _, *sides = x.shape
        grid = [math.ceil(s / mask_patch) for s in sides]
        keep = (torch.rand(b, 1, *grid, device=x.device) >= mask_ratio).to(x.dtype)
        keep = keep.repeat_interleave(mask_patch, 2).repeat_interleave(mask_patch, 3).repeat_interleave(mask_patch, 4)
        x = x * keep[:, :, : sides[0], : sides[1], : sides[2]]
    if noise_std > 0:
        x = x + noise_std * torch.randn_like(x)
    return x


class Autoencoder(nn.Module):
    """``backbone`` (the saved part) + a light decoder from its layer4 map back to the input.

    The decoder: 1×1×1 conv to ``decoder_dim`` channels, then per factor 2 of the backbone's
    downsampling a trilinear ×2 upsampling and a 3×3×3 conv + ReLU halving the width (at least 8),
    a 1×1×1 conv to the input channels, and trilinear resizing to the input shape where the strides
    do not divide it. The loss is the MSE to the clean input.
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        in_channels: int,
        input_shape: Sequence[int],
        decoder_dim: int = 192,
        mask_ratio: float = 0.0,
        mask_patch: int = 8,
        noise_std: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.input_shape = tuple(int(s) for s in input_shape)
        self.mask_ratio, self.mask_patch, self.noise_std = mask_ratio, mask_patch, noise_std
        was_training = backbone.training
        backbone.eval()
        with torch.no_grad():
            feature_shape = backbone.feature_map(torch.zeros(1, in_channels, *self.input_shape)).shape[2:]
        backbone.train(was_training)
        stages = max(0, math.ceil(math.log2(max(s / f for s, f in zip(self.input_shape, feature_shape, strict=False)))))
        layers: list[nn.Module] = [nn.Conv3d(backbone.feature_dim, decoder_dim, kernel_size=1), nn.ReLU(inplace=True)]
        width = decoder_dim
        for _ in range(stages):
            narrower = max(8, width // 2)
            layers += [
                nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                nn.Conv3d(width, narrower, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
            ]
            width = narrower
        layers.append(nn.Conv3d(width, in_channels, kernel_size=1))
        self.decoder = nn.Sequential(*layers)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's rebuild of ``x`` (corrupted first when settings ask) at the input shape."""
        y = self.decoder(self.backbone.feature_map(corrupt(x, self.mask_ratio, self.mask_patch, self.noise_std)))
        if tuple(y.shape[2:]) != self.input_shape:
            y = nn.functional.interpolate(y, size=self.input_shape, mode="trilinear", align_corners=False)
        return y

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """MSE between the rebuild and the clean view (``views`` is (B, 1, C, X, Y, Z))."""
        x = views[:, 0]
        return nn.functional.mse_loss(self.reconstruct(x).float(), x.float())


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): each embedding's positive is its pair; the other 2B - 2 embeddings are negatives."""
    b = z1.shape[0]
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
    similarity = (z @ z.T) / temperature
    similarity = similarity.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return nn.functional.cross_entropy(similarity, positives)


class SimCLR(nn.Module):
    """``backbone`` (the saved part) + projection head Linear(d, 4p), ReLU, Linear(4p, p); NT-Xent loss."""

    def __init__(self, backbone: ResNetBackbone, projection_dim: int = 128, temperature: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.temperature = temperature
        self.projector = nn.Sequential(
            nn.Linear(backbone.feature_dim, 4 * projection_dim),
            nn.ReLU(inplace=True),
            nn.Linear(4 * projection_dim, projection_dim),
        )

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """NT-Xent of the two views of each volume (``views`` is (B, 2, C, X, Y, Z)), both in one batch."""
        b = views.shape[0]
        z = self.projector(self.backbone(torch.cat([views[:, 0], views[:, 1]])))
        return nt_xent(z[:b], z[b:], self.temperature)
