"""Backbone registry: name -> builder(in_channels, input_shape) giving a feature extractor.

Every backbone wraps its network as ``.net`` (the module foundation checkpoints load into) and
exposes ``feature_dim`` (pooled feature size), ``forward`` (B, feature_dim) and ``feature_map``
(B, feature_dim, x, y, z) for the conv head, plus the module-name regexes the methods use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from neuropeft.choices import look_up_option
from neuropeft.learn.checkpoint import adapt_input_channels, load_strict, read_state_dict
from neuropeft.learn.resnet import resnet10, resnet18, resnet50
from neuropeft.learn.vit import ViTEncoder


class Backbone(nn.Module):
    """A feature extractor with what the fine-tuning methods need to know about it."""

    #: key of the input convolution's kernel in ``net``'s state dict (adapted to the input's channel count)
    stem_key: str = ""
    #: full-name regex of the modules LoRA/DoRA adapt by default
    lora_targets: str = ""
    #: full-name regex of the parameters the ``attention`` method trains ("" = no attention)
    attention_params: str = ""

    def __init__(self, net: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = feature_dim

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial features (B, feature_dim, x, y, z)."""
        raise NotImplementedError

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
    lora_targets = r".*blocks\.\d+\.attn\.qkv"
    attention_params = r".*blocks\.\d+\.attn\.(qkv|proj)\.(weight|bias)"

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens on the patch grid (B, dim, gx, gy, gz)."""
        return self.net.feature_map(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, dim)."""
        return self.net(x)


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
