"""3D ViT encoder of a masked autoencoder (timm/MAE layout, fixed sin-cos positions, no cls token).

MONAI's ``ViT`` carries an unused cross-attention norm per block and its MAE defaults to a 512-wide
MLP, so neither reproduces the third seed's parameter counts; this module does (see anchors.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuropeft.errors import NeuropeftError


def sincos_position_embedding(grid: Sequence[int], dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 3D sin-cos positions (1, tokens, dim) on a patch grid, as MONAI's
    ``build_sincos_position_embedding(grid, dim, spatial_dims=3)`` makes them (sin and cos of the
    second, first and third grid axes, ``dim / 6`` frequencies each; ``dim`` divisible by 6).
    Kept here so that a ViT does not import MONAI (every submodule, seconds of start-up)."""
    axes = torch.meshgrid(*(torch.arange(int(n), dtype=torch.float32) for n in grid), indexing="ij")
    omega = 1.0 / (temperature ** (torch.arange(dim // 6, dtype=torch.float32) / (dim // 6)))
    h, w, d = (torch.einsum("m,d->md", [axis.flatten(), omega]) for axis in axes)
    return torch.cat([w.sin(), w.cos(), h.sin(), h.cos(), d.sin(), d.cos()], dim=1)[None]


class PatchEmbed(nn.Module):
    """Non-overlapping cubic patches -> tokens via one strided Conv3d (``patch_embed.proj``)."""

    def __init__(self, in_channels: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, X, Y, Z) -> (B, tokens, dim)."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection (with bias) and ``proj``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled dot-product attention over all tokens."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Token-wise MLP."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual attention then residual MLP."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTEncoder(nn.Module):
    """3D ViT encoder; ``forward`` returns the mean of the normalised tokens (B, dim)."""

    def __init__(
        self,
        in_channels: int,
        input_shape: Sequence[int],
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if any(s % patch for s in input_shape) or dim % 6:
            raise NeuropeftError(
                f"a ViT with patch {patch} needs every input side divisible by {patch} (got {tuple(input_shape)}); "
                "resample the model grid"
            )
        self.grid = tuple(int(s) // patch for s in input_shape)
        self.feature_dim = dim
        self.patch_embed = PatchEmbed(in_channels, dim, patch)
        self.register_buffer("pos_embed", sincos_position_embedding(self.grid, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised output tokens (B, tokens, dim)."""
        x = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global average of the tokens (B, dim)."""
        return self.tokens(x).mean(dim=1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens laid out on the patch grid (B, dim, gx, gy, gz)."""
        t = self.tokens(x)
        return t.transpose(1, 2).reshape(t.shape[0], self.feature_dim, *self.grid)
