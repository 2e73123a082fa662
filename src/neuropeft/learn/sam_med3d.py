"""SAM-Med3D's image encoder (``vit_b_ori``), written after upstream's ``image_encoder3D.py``.

Module and parameter names are upstream's (``patch_embed.proj``, ``pos_embed``,
``blocks.N.{norm1,attn.qkv,attn.proj,attn.rel_pos_d/h/w,norm2,mlp.lin1,mlp.lin2}``,
``neck.0``–``neck.3``), so an upstream checkpoint's ``image_encoder.*`` tensors load strictly once
the prefix is stripped (:func:`encoder_state_dict`).

Parameter count of ``vit_b_ori`` (1 input channel; head_dim = 768 / 12 = 64):

- ``patch_embed.proj``: 768 · 16³ + 768 = 3,146,496; ``pos_embed`` (1, 8, 8, 8, 768): 393,216;
- per block without relative positions: norm1 1,536 + qkv 1,771,776 + proj 590,592 + norm2 1,536
  + lin1 2,362,368 + lin2 2,360,064 = 7,087,872, × 12 = 85,054,464;
- relative positions, three tables (one per axis) of (2 s − 1, 64): the 8 windowed blocks size them
  for their window, s = 14 (27 rows: 3 · 27 · 64 = 5,184 each, 41,472), the 4 global blocks for the
  8³ token grid, s = 8 (15 rows: 3 · 15 · 64 = 2,880 each, 11,520);
- total without the neck 3,146,496 + 393,216 + 85,054,464 + 41,472 + 11,520 = **88,647,168**;
- neck: Conv3d(768→384, 1) 294,912 + LayerNorm3d 768 + Conv3d(384→384, 3) 3,981,312 + LayerNorm3d
  768 = 4,277,760, so **92,924,928** in all.

Shapes: the positional tables are built for the pre-training input (``img_size`` 128, 8³ tokens)
whatever the input, so parameter counts and checkpoint loading do not depend on it. At another cubic
input side (divisible by 16; upstream's relative positions need a cube, see
:func:`decomposed_rel_pos_bias`) ``pos_embed`` is resized trilinearly to the token grid and the
global blocks' relative-position tables linearly, as upstream's ``get_rel_pos`` does; windowed blocks
always attend within 14³ windows, the token grid zero-padded to a multiple of 14 (an 8³ grid is one
padded window, its padding tokens taking part as keys, as upstream). At 128³ nothing is resized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from neuropeft.errors import NeuropeftError

#: prefix of the image encoder's keys in an upstream SAM-Med3D checkpoint
ENCODER_PREFIX = "image_encoder."
#: backbone ``sam-med3d-tiny``: the same encoder small enough for CPU training (tests, the demo): 32³
#: input, patch 8 (4³ tokens), width 48, 4 blocks of 4 heads, global attention in blocks 1 and 3 (the
#: 2, 5, 8, 11 pattern scaled), 2³ windows tiling the token grid elsewhere, the neck to 32 channels
SAM_MED3D_TINY: dict[str, object] = {
    "img_size": 32,
    "patch_size": 8,
    "embed_dim": 48,
    "depth": 4,
    "num_heads": 4,
    "out_chans": 32,
    "window_size": 2,
    "global_attn_indexes": (1, 3),
}


class LayerNorm3d(nn.Module):
    """LayerNorm over the channels of a (B, C, X, Y, Z) map (``weight``, ``bias``)."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each voxel's channel vector, then scale and shift."""
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class MLPBlock(nn.Module):
    """``lin1`` -> GELU -> ``lin2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Token-wise MLP."""
        return self.lin2(self.act(self.lin1(x)))


def get_rel_pos(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position embeddings R (size, size, head_dim) of one axis, R[i, j] = table[i - j + size - 1],
    the table resized linearly when it was built for another size (upstream's ``get_rel_pos`` with
    equal query and key sizes)."""
    if rel_pos.shape[0] != 2 * size - 1:
        rel_pos = F.interpolate(rel_pos.T[None], size=2 * size - 1, mode="linear")[0].T
    coords = torch.arange(size, device=rel_pos.device)
    return rel_pos[coords[:, None] - coords[None, :] + size - 1]


def decomposed_rel_pos_bias(q: torch.Tensor, tables: Sequence[torch.Tensor], side: int) -> torch.Tensor:
    """The relative-position attention bias (B, heads, N, N) for queries ``q`` (B, heads, N, head_dim)
    on a cubic grid of ``side``, broadcast exactly as upstream's ``add_decomposed_rel_pos``.

    Upstream's broadcasting differs from MViTv2's q·(R_d[qd,kd] + R_h[qh,kh] + R_w[qw,kw]): with query
    q at (qd, qh, qw) and key (kd, kh, kw) it adds q·R_d[qd,kw] + q'(kd)·R_h[qh,kw] + q'(kh)·R_w[kh,kw],
    q'(i) being the query at (qd, qh, i). The checkpoints were trained with it, so it is kept; it
    needs a cubic grid (windows always are).
    """
    rd, rh, rw = (get_rel_pos(side, table) for table in tables)
    r_q = q.reshape(-1, side, side, side, q.shape[-1])
    rel_d = torch.einsum("bdhwc,dkc->bdhwk", r_q, rd)[:, :, :, :, None, None]
    rel_h = torch.einsum("bdhwc,hkc->bdhwk", r_q, rh)[:, :, :, None, :, None]
    rel_w = torch.einsum("bdhwc,wkc->bdhwk", r_q, rw)[:, :, :, None, None, :]
    return (rel_d + rel_h + rel_w).reshape(*q.shape[:2], side**3, side**3)


class Attention(nn.Module):
    """Multi-head attention over a cubic (B, D, H, W, C) grid with decomposed relative positions
    (``rel_pos_d``, ``rel_pos_h``, ``rel_pos_w`` sized for ``input_size``, zero-initialised)."""

    def __init__(self, dim: int, num_heads: int, input_size: Sequence[int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_d = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[2] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """softmax(q kᵀ / √head_dim + relative-position bias) v, then ``proj``."""
        b, d, h, w, c = x.shape
        q, k, v = self.qkv(x).reshape(b, d * h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        bias = decomposed_rel_pos_bias(q, (self.rel_pos_d, self.rel_pos_h, self.rel_pos_w), d)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(x.transpose(1, 2).reshape(b, d, h, w, c))


def window_partition3D(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """(B, D, H, W, C) -> (B · windows, window, window, window, C), zero-padding each side to a
    multiple of ``window``; also returns the padded grid."""
    b, *grid, c = x.shape
    pads = [(window - s % window) % window for s in grid]
    x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
    padded = (grid[0] + pads[0], grid[1] + pads[1], grid[2] + pads[2])
    n = [s // window for s in padded]
    x = x.view(b, n[0], window, n[1], window, n[2], window, c).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(-1, window, window, window, c), padded


def window_unpartition3D(
    windows: torch.Tensor, window: int, padded: Sequence[int], grid: Sequence[int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition3D`, the padding cut off: (B, D, H, W, C)."""
    n = [s // window for s in padded]
    x = windows.view(-1, *n, window, window, window, windows.shape[-1]).permute(0, 1, 4, 2, 5, 3, 6, 7)
    x = x.reshape(x.shape[0], *padded, -1)
    return x[:, : grid[0], : grid[1], : grid[2]].contiguous()


class Block3D(nn.Module):
    """Pre-norm transformer block; windowed attention when ``window_size`` > 0, else global."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int, grid: Sequence[int]) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, (window_size,) * 3 if window_size else grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual (windowed) attention, then residual MLP, on (B, D, H, W, C)."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            grid = x.shape[1:4]
            windows, padded = window_partition3D(x, self.window_size)
            x = window_unpartition3D(self.attn(windows), self.window_size, padded, grid)
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed3D(nn.Module):
    """Non-overlapping cubic patches -> (B, X, Y, Z, C) tokens via ``proj``."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, X, Y, Z) -> (B, x, y, z, embed_dim)."""
        return self.proj(x).permute(0, 2, 3, 4, 1)


class ImageEncoderViT3D(nn.Module):
    """SAM-Med3D's ViT image encoder; defaults are ``vit_b_ori``. ``forward`` gives the neck's map
    (B, out_chans, X/16, Y/16, Z/16)."""

    def __init__(
        self,
        in_chans: int = 1,
        img_size: int = 128,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 384,
        window_size: int = 14,
        global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.out_chans = out_chans
        grid = (img_size // patch_size,) * 3
        self.patch_embed = PatchEmbed3D(in_chans, embed_dim, patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, *grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block3D(embed_dim, num_heads, mlp_ratio, 0 if i in global_attn_indexes else window_size, grid)
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv3d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm3d(out_chans),
            nn.Conv3d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm3d(out_chans),
        )

    def position_embedding(self, grid: Sequence[int]) -> torch.Tensor:
        """``pos_embed`` (1, x, y, z, C), resized trilinearly when ``grid`` is not the pre-training grid."""
        if tuple(grid) == tuple(self.pos_embed.shape[1:4]):
            return self.pos_embed
        resized = F.interpolate(self.pos_embed.permute(0, 4, 1, 2, 3), size=tuple(grid), mode="trilinear")
        return resized.permute(0, 2, 3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, X, Y, Z) -> neck output (B, out_chans, X/16, Y/16, Z/16)."""
        x = self.patch_embed(x)
        x = x + self.position_embedding(x.shape[1:4]).to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 4, 1, 2, 3))


def sam_med3d_encoder(in_channels: int, input_shape: Sequence[int], **kwargs: object) -> ImageEncoderViT3D:
    """``vit_b_ori`` (or a variant via ``kwargs``) for inputs of ``input_shape``, refused unless it is
    a cube with sides divisible by the patch size (upstream's relative positions need a cubic grid)."""
    encoder = ImageEncoderViT3D(in_chans=in_channels, **kwargs)  # type: ignore[arg-type]
    if len({int(s) for s in input_shape}) != 1 or int(input_shape[0]) % encoder.patch_size:
        raise NeuropeftError(
            f"sam-med3d needs a cubic input with sides divisible by {encoder.patch_size} (got {tuple(input_shape)}); "
            "set the model grid's shape accordingly (SAM-Med3D was trained on 128³ at 1.5 mm)"
        )
    return encoder


def encoder_state_dict(
    checkpoint: Mapping[str, object], prefix: str = ENCODER_PREFIX
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The image encoder's tensors of an upstream SAM-Med3D checkpoint (``{"model_state_dict": {...}}``
    or the state dict itself) with ``prefix`` stripped, and the sorted keys left out (prompt encoder,
    mask decoder ...)."""
    state = checkpoint.get("model_state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise NeuropeftError("checkpoint's model_state_dict is not a state dict; re-save it as one")
    kept = [k for k, v in state.items() if k.startswith(prefix) and isinstance(v, torch.Tensor)]
    if not kept:
        raise NeuropeftError(f"checkpoint has no {prefix}* tensors; is it a SAM-Med3D checkpoint?")
    return {k[len(prefix) :]: state[k] for k in kept}, sorted(set(state) - set(kept))
