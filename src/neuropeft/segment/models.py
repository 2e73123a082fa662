"""Segmentation backbones: MONAI's UNETR and Swin UNETR, with what the fine-tuning methods need to know.

Each model wraps its MONAI network as ``.net`` (the module checkpoints load into) and knows its
pre-trained transformer encoder (``encoder``: UNETR's ``vit``, Swin UNETR's ``swinViT``; every
other module, MONAI's convolutional ``encoder1..`` skip blocks included, is the decoder), its output
block (``head``) and the modules LoRA/DoRA adapt by default (``lora_targets``, the second seed's
PEMMA settings). Inputs of any shape are padded with zeros, symmetrically, to the shape the network
accepts and its outputs cropped back: UNETR cuts the input into 16³ patches, Swin UNETR halves it
five times (sides divisible by 32, and more than one voxel at 1/32 so that its instance norm can
train: an all-32 grid grows to 64 along its first axis).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from monai.networks.blocks import SABlock
from monai.networks.nets import UNETR, SwinUNETR
from torch import nn

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.checkpoint import load_strict, read_state_dict

#: a fused attention projection (rows q, k, v) in a state dict
FUSED_QKV = re.compile(r"(?P<prefix>(.*\.)?)qkv\.(?P<kind>weight|bias)")


class SegmentationModel(nn.Module):
    """A MONAI segmentation network on a padded grid: (B, C, *input_shape) -> logits (B, K, *input_shape)."""

    #: module name (in ``net``) of the pre-trained transformer encoder; every other module is the decoder
    encoder: str = ""
    #: module name (in ``net``) of the output block (a 1x1x1 convolution to the classes)
    head: str = "out"
    #: full-name regex of the modules LoRA/DoRA adapt by default
    lora_targets: str = ""

    def __init__(self, net: nn.Module, input_shape: Sequence[int], padded_shape: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        self.input_shape = tuple(input_shape)
        before = [(p - s) // 2 for s, p in zip(self.input_shape, padded_shape, strict=True)]
        after = [p - s - b for s, p, b in zip(self.input_shape, padded_shape, before, strict=True)]
        self.padding = [n for b, a in zip(reversed(before), reversed(after), strict=True) for n in (b, a)]
        self.crop = tuple(slice(b, b + s) for b, s in zip(before, self.input_shape, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K, *input_shape) of images (B, C, *input_shape)."""
        if tuple(x.shape[2:]) != self.input_shape:
            raise NeuropeftError(f"the model was built for inputs {self.input_shape}, got {tuple(x.shape[2:])}")
        return self.net(F.pad(x, self.padding))[(slice(None), slice(None), *self.crop)]

    def decoder(self) -> list[str]:
        """Names of the modules of ``net`` that make up the decoder (all but the encoder)."""
        return [name for name, _ in self.net.named_children() if name != self.encoder]

    def in_encoder(self, name: str) -> bool:
        """Whether the parameter or module ``name`` (relative to this model) is part of the encoder."""
        return name.startswith(f"net.{self.encoder}.")

    def adapt_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint's tensors under the names of ``net`` (as they are, here)."""
        return state

    def load_pretrained(self, path: str | Path, sha256: str = "") -> None:
        """Load a checkpoint of the whole network or of its encoder alone (keys starting ``vit.`` /
        ``swinViT.``), strictly; the output block is left random when its class count differs. A
        model this package saved (``weights.safetensors`` of a ``full`` or ``scratch`` fold: keys
        ``net.…``) loads too."""
        state = read_state_dict(path, sha256)
        if state and all(k.startswith("net.") for k in state):
            state = {k.removeprefix("net."): v for k, v in state.items()}
        state = self.adapt_checkpoint(state)
        own = self.net.state_dict()
        encoder_only = all(k.startswith(f"{self.encoder}.") for k in state)
        kept = {
            k: v
            for k, v in own.items()
            if (encoder_only and not k.startswith(f"{self.encoder}."))
            or (k.startswith(f"{self.head}.") and (k not in state or state[k].shape != v.shape))
        }
        load_strict(self.net, {**state, **kept}, path)


def split_fused_qkv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``...qkv.weight`` / ``...qkv.bias`` split into ``...to_q``, ``to_k``, ``to_v`` (thirds of the rows,
    the order MONAI's SABlock reads them in); other tensors unchanged."""
    out = {}
    for key, tensor in state.items():
        found = FUSED_QKV.fullmatch(key)
        if found is None:
            out[key] = tensor
            continue
        for name, part in zip(("to_q", "to_k", "to_v"), tensor.chunk(3, dim=0), strict=True):
            out[f"{found['prefix']}{name}.{found['kind']}"] = part
    return out


def split_attention(attn: SABlock) -> SABlock:
    """The same self-attention with separate q, k and v projections (MONAI's ``use_combined_linear=False``),
    holding the fused projection's weights."""
    split = SABlock(
        hidden_size=attn.hidden_input_size,
        num_heads=attn.num_heads,
        dropout_rate=attn.dropout_rate,
        qkv_bias=attn.qkv.bias is not None,
        save_attn=attn.save_attn,
        use_combined_linear=False,
    )
    split.load_state_dict(split_fused_qkv(attn.state_dict()))
    return split


class UNETRModel(SegmentationModel):
    """UNETR (Hatamizadeh et al. 2022): a 12-block ViT on 16³ patches and a convolutional decoder.

    LoRA/DoRA adapt the query and value projections of every ViT block (PEMMA). MONAI's ViT fuses
    them in one ``qkv`` Linear, and peft adapts whole modules: on ``qkv`` it would also adapt the keys,
    with one rank-r update of the fused (3d x d) matrix instead of two of (d x d). So each block's
    attention is rebuilt in MONAI's own separate-projection layout (``to_q``, ``to_k``, ``to_v``; the
    same weights, the same computation) and peft adapts ``to_q`` and ``to_v``: r·(d + d) parameters per
    projection, 2 per block. Fused checkpoints are split on loading (:func:`split_fused_qkv`).
    """

    encoder = "vit"
    lora_targets = r".*\.vit\.blocks\.\d+\.attn\.to_(q|v)"

    def adapt_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fused ``qkv`` projections split into ``to_q``, ``to_k``, ``to_v``."""
        return split_fused_qkv(state)


class SwinUNETRModel(SegmentationModel):
    """Swin UNETR (Hatamizadeh et al. 2022): a Swin transformer encoder and a convolutional decoder;
    LoRA/DoRA adapt the fused ``qkv`` projection of every window attention (PEMMA)."""

    encoder = "swinViT"
    lora_targets = r".*\.swinViT\.layers\d\.\d+\.blocks\.\d+\.attn\.qkv"


def padded_shape(shape: Sequence[int], multiple: int, cells_above_one: bool = False) -> tuple[int, ...]:
    """``shape`` with every side rounded up to ``multiple``; with ``cells_above_one``, the first side
    doubled when every side is one ``multiple`` (so the coarsest level has more than one voxel)."""
    padded = [math.ceil(s / multiple) * multiple for s in shape]
    if cells_above_one and all(p == multiple for p in padded):
        padded[0] *= 2
    return tuple(padded)


def _monai(factory: Callable[..., nn.Module], name: str, **kwargs: Any) -> nn.Module:
    """``factory(**kwargs)``, its refusals of bad sizes as one-line errors."""
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as error:
        raise NeuropeftError(f"segmentation backbone {name!r}: {error}") from None


def _unetr(**defaults: Any) -> Callable[..., SegmentationModel]:
    """A builder for UNETR with ``defaults`` for MONAI's size arguments, its attention split into q, k, v."""

    def build(in_channels: int, out_channels: int, input_shape: Sequence[int], **options: Any) -> SegmentationModel:
        padded = padded_shape(input_shape, 16)
        net = _monai(
            UNETR, "unetr", in_channels=in_channels, out_channels=out_channels, img_size=padded, **defaults | options
        )
        for block in net.vit.blocks:
            block.attn = split_attention(block.attn)
        return UNETRModel(net, input_shape, padded)

    return build


def _swin_unetr(**defaults: Any) -> Callable[..., SegmentationModel]:
    """A builder for Swin UNETR with ``defaults`` for MONAI's size arguments."""

    def build(in_channels: int, out_channels: int, input_shape: Sequence[int], **options: Any) -> SegmentationModel:
        net = _monai(SwinUNETR, "swin-unetr", in_channels=in_channels, out_channels=out_channels, **defaults | options)
        return SwinUNETRModel(net, input_shape, padded_shape(input_shape, 32, cells_above_one=True))

    return build


#: name -> builder(in_channels, out_channels, input_shape, **MONAI size options)
SEGMENTATION_BACKBONES: dict[str, Callable[..., SegmentationModel]] = {
    # MONAI's defaults: ViT-B (hidden 768, 12 heads, MLP 3072), feature_size 16
    "unetr": _unetr(),
    # feature_size 48, as the published Swin UNETR models and their self-supervised encoder weights
    "swin-unetr": _swin_unetr(feature_size=48),
    # small enough to train on a CPU
    "unetr-tiny": _unetr(hidden_size=32, mlp_dim=64, num_heads=2, feature_size=8),
    "swin-unetr-tiny": _swin_unetr(feature_size=12, depths=(1, 1, 1, 1), window_size=4),
}


def build_segmentation_model(
    name: str, in_channels: int, out_channels: int, input_shape: Sequence[int], **options: Any
) -> SegmentationModel:
    """A registered segmentation backbone with random weights; ``options`` override MONAI's size
    arguments (``hidden_size``, ``feature_size``, ``depths`` ...). ``out_channels`` counts the background."""
    look_up_option(name, SEGMENTATION_BACKBONES, "segmentation backbone")
    if len(input_shape) != 3:
        raise NeuropeftError(f"segmentation input shape {tuple(input_shape)} must have three sides")
    return SEGMENTATION_BACKBONES[name](in_channels, out_channels, tuple(input_shape), **options)
