"""Backbone registry: name -> builder(in_channels, input_shape) giving a feature extractor.

Every backbone wraps its network as ``.net`` (the module foundation checkpoints load into) and
exposes ``feature_dim`` (pooled feature size), ``forward`` (B, feature_dim) and ``feature_map``
(B, feature_dim, x, y, z) for the map heads, plus the module-name regexes the methods use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.checkpoint import adapt_input_channels, load_strict, read_state_dict
from neuropeft.learn.resnet import resnet10, resnet18, resnet50
from neuropeft.learn.sam_med3d import SAM_MED3D_TINY, sam_med3d_encoder
from neuropeft.learn.vit import ViTEncoder


class Backbone(nn.Module):
    """A feature extractor with what the fine-tuning methods need to know about it."""

    #: key of the input convolution's kernel in ``net``'s state dict (adapted to the input's channel count)
    stem_key: str = ""
    #: full-name regex of the modules LoRA/DoRA adapt by default
    lora_targets: str = ""
    #: ``lora_targets`` with ``{blocks}`` for the block index, for backbones with numbered ``net.blocks``
    block_lora_targets: str = ""
    #: full-name regex of the parameters the ``attention`` method trains ("" = no attention)
    attention_params: str = ""

    def __init__(self, net: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = feature_dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial features (B, feature_dim, x, y, z)."""
        raise NotImplementedError

    def lora_targets_in_blocks(self, blocks: Sequence[int]) -> str:
        """The default LoRA/DoRA targets narrowed to the blocks ``net.blocks[i]`` for i in ``blocks``."""
        if not self.block_lora_targets:
            raise NeuropeftError(
                f"lora_blocks needs a backbone made of transformer blocks (vit-*, sam-med3d), not a "
                f"{type(self).__name__}; remove lora_blocks or use lora_targets"
            )
        count = len(self.net.blocks)  # type: ignore[arg-type]
        outside = [b for b in blocks if not 0 <= b < count]
        if outside:
            raise NeuropeftError(f"lora_blocks {outside} are out of range: this backbone has blocks 0-{count - 1}")
        return self.block_lora_targets.format(blocks="(" + "|".join(str(b) for b in sorted(set(blocks))) + ")")

    def load_pretrained(self, path: str | Path, sha256: str = "") -> None:
        """Load a foundation checkpoint strictly into ``net`` (a stem with another channel count is adapted, see checkpoint.py)."""
        in_channels = self.net.state_dict()[self.stem_key].shape[1]
        state = adapt_input_channels(read_state_dict(path, sha256), self.stem_key, in_channels)
        load_strict(self.net, state, path)


class ResNetBackbone(Backbone):
    """MONAI's 3D ResNet (learn/resnet.py) without its classifier; features are the global average of layer4."""

    stem_key = "conv1.weight"
    lora_targets = r".*layer\d\.\d+\.(conv1|conv2|conv3|downsample\.0)"

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Output of layer4 (B, feature_dim, x, y, z)."""
        net = self.net
        x = net.act(net.bn1(net.conv1(x)))
        if not net.no_max_pool:
            x = net.maxpool(x)
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, feature_dim)."""
        return self.feature_map(x).mean(dim=(2, 3, 4))


class ViTBackbone(Backbone):
    """3D MAE ViT encoder; features are the mean of the normalised tokens."""

    stem_key = "patch_embed.proj.weight"
    block_lora_targets = r".*blocks\.{blocks}\.attn\.qkv"
    lora_targets = block_lora_targets.format(blocks=r"\d+")
    attention_params = r".*blocks\.\d+\.attn\.(qkv|proj)\.(weight|bias)"

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens on the patch grid (B, dim, gx, gy, gz)."""
        return self.net.feature_map(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, dim)."""
        return self.net(x)


class SamMed3DBackbone(Backbone):
    """SAM-Med3D's image encoder (learn/sam_med3d.py); features are the global average of its neck's map."""

    stem_key = ViTBackbone.stem_key
    block_lora_targets = ViTBackbone.block_lora_targets
    lora_targets = ViTBackbone.lora_targets
    attention_params = ViTBackbone.attention_params

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The neck's output (B, out_chans, X/patch, Y/patch, Z/patch); 384 × X/16 ... for ``vit_b_ori``."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, out_chans)."""
        return self.feature_map(x).mean(dim=(2, 3, 4))


def _sam_med3d(**variant: object) -> Callable[[int, Sequence[int]], Backbone]:
    """A builder for SAM-Med3D's encoder (``vit_b_ori``, or ``variant``'s sizes) on a cubic input with
    sides divisible by its patch."""

    def build(in_channels: int, input_shape: Sequence[int]) -> Backbone:
        net = sam_med3d_encoder(in_channels, input_shape, **variant)
        return SamMed3DBackbone(net, net.out_chans)

    return build


def _resnet(factory: Callable[..., nn.Module], **kwargs: object) -> Callable[[int, Sequence[int]], Backbone]:
    """A builder for a MONAI-layout ResNet (any input shape)."""

    def build(in_channels: int, input_shape: Sequence[int]) -> Backbone:
        net = factory(n_input_channels=in_channels, **kwargs)
        return ResNetBackbone(net, net.in_planes)

    return build


def _vit(patch: int, dim: int, depth: int, heads: int) -> Callable[[int, Sequence[int]], Backbone]:
    """A builder for a 3D ViT encoder on the given input shape."""

    def build(in_channels: int, input_shape: Sequence[int]) -> Backbone:
        return ViTBackbone(ViTEncoder(in_channels, input_shape, patch, dim, depth, heads), dim)

    return build


#: name -> builder(in_channels, input_shape)
BACKBONES: dict[str, Callable[[int, Sequence[int]], Backbone]] = {
    # FMCIB (Pai et al. 2024): 4096-d, 184,477,824 parameters for 1 channel
    "fmcib-resnet50": _resnet(resnet50, widen_factor=2, conv1_t_stride=2, bias_downsample=True),
    # MedicalNet-style stems (stride-2 7³ convolution, as in MedicalNet's public weights): the grid
    # is halved before the max-pool, which makes these small backbones ~8x cheaper on a CPU.
    "resnet10": _resnet(resnet10, conv1_t_stride=2),
    "resnet18": _resnet(resnet18, conv1_t_stride=2),
    # SAM-Med3D (the fifth seed): 128^3 input, 92,924,928 parameters for 1 channel
    "sam-med3d": _sam_med3d(),
    # the same code small enough for CPU: 32^3 input, 4 blocks of width 48, 32 features; 170,816 parameters
    "sam-med3d-tiny": _sam_med3d(**SAM_MED3D_TINY),
    # Dhinagar et al. 2024: 80^3 input, patch 16
    "vit-b": _vit(patch=16, dim=768, depth=12, heads=12),
    "vit-s": _vit(patch=16, dim=384, depth=6, heads=8),
    # small enough for CPU tests
    "vit-tiny": _vit(patch=8, dim=48, depth=2, heads=4),
}


def build_backbone(name: str, in_channels: int, input_shape: Sequence[int]) -> Backbone:
    """Build a registered backbone with random weights."""
    look_up_option(name, BACKBONES, "backbone")
    return BACKBONES[name](in_channels, tuple(input_shape))
