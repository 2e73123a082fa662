"""Masked-autoencoder pre-training of the 3D ViT encoder (He et al. 2022; the third seed's MAE).

A random ``mask_ratio`` of the patch tokens is dropped per volume; the encoder sees only the visible
tokens, a light transformer decoder gets them back with a learned mask token in every hidden place
and predicts the voxels of each patch; the loss is the MSE on the masked patches only.
"""

from __future__ import annotations

import torch
from torch import nn

from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import ViTBackbone
from neuropeft.learn.vit import Block, sincos_position_embedding


def visible_count(tokens: int, mask_ratio: float) -> int:
    """Tokens the encoder sees: ``round(tokens * (1 - mask_ratio))``, at least 1 and at most ``tokens - 1``."""
    if not 0 < mask_ratio < 1:
        raise NeuropeftError(
            f"mask_ratio must lie strictly between 0 and 1, got {mask_ratio}; fix the pretrain settings"
        )
    return min(tokens - 1, max(1, round(tokens * (1 - mask_ratio))))


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, X, Y, Z) -> (B, tokens, patch³·C), tokens in the order of the patch embedding's ``flatten(2)``."""
    b, c, *sides = x.shape
    gx, gy, gz = (s // patch for s in sides)
    x = x.reshape(b, c, gx, patch, gy, patch, gz, patch)
    return x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b, gx * gy * gz, patch**3 * c)


class MaskedAutoencoder(nn.Module):
    """``backbone`` (a :class:`ViTBackbone`, the part that is saved) + a light MAE decoder."""

    def __init__(
        self,
        backbone: ViTBackbone,
        in_channels: int,
        mask_ratio: float = 0.75,
        decoder_dim: int = 192,
        decoder_depth: int = 2,
        decoder_heads: int = 6,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        if decoder_dim % 6 or decoder_dim % decoder_heads:
            raise NeuropeftError(
                f"decoder_dim {decoder_dim} must be divisible by 6 (3D sin-cos positions) and by decoder_heads {decoder_heads}"
            )
        encoder = backbone.net
        self.backbone = backbone
        self.patch = int(encoder.patch_embed.proj.kernel_size[0])
        self.tokens = int(encoder.pos_embed.shape[1])
        self.visible = visible_count(self.tokens, mask_ratio)
        self.norm_pix_loss = norm_pix_loss
        self.decoder_embed = nn.Linear(encoder.feature_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("decoder_pos_embed", sincos_position_embedding(encoder.grid, decoder_dim))
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, decoder_heads, 4.0) for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch**3 * in_channels)

    def encode_visible(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoded visible tokens (B, visible, dim), mask (B, tokens; 1 = hidden) and the restoring order."""
        encoder = self.backbone.net
        tokens = encoder.patch_embed(x) + encoder.pos_embed.to(x.dtype)
        b, n, d = tokens.shape
        order = torch.rand(b, n, device=x.device).argsort(dim=1)
        restore = order.argsort(dim=1)
        kept = tokens.gather(1, order[:, : self.visible, None].expand(-1, -1, d))
        for block in encoder.blocks:
            kept = block(kept)
        mask = torch.ones(b, n, device=x.device)
        mask[:, : self.visible] = 0
        return encoder.norm(kept), mask.gather(1, restore), restore

    def decode(self, encoded: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        """Predicted voxels of every patch (B, tokens, patch³·C)."""
        y = self.decoder_embed(encoded)
        b, kept, d = y.shape
        hidden = self.mask_token.to(y.dtype).expand(b, self.tokens - kept, d)
        y = torch.cat([y, hidden], dim=1).gather(1, restore[..., None].expand(-1, -1, d))
        y = y + self.decoder_pos_embed.to(y.dtype)
        for block in self.decoder_blocks:
            y = block(y)
        return self.decoder_pred(self.decoder_norm(y))

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """MSE on the masked patches of one view per volume (``views`` is (B, 1, C, X, Y, Z))."""
        x = views[:, 0]
        encoded, mask, restore = self.encode_visible(x)
        prediction = self.decode(encoded, restore).float()
        target = patchify(x, self.patch).float()
        if self.norm_pix_loss:
            mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = ((prediction - target) ** 2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()
