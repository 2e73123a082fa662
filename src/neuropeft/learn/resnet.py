"""The 3D ResNets of the backbones, built as MONAI's ``monai.networks.nets.ResNet`` builds them.

Same modules under the same names (foundation and pre-training checkpoints load unchanged), the same
construction and initialisation order (a seed gives the same weights as MONAI's ``resnet10(...)``),
the same forward. Only what the backbones use is here: basic and bottleneck blocks, shortcut type
"B" (1×1 convolution + BatchNorm), no classifier. Kept in neuropeft because ``import monai`` loads
every MONAI submodule (transformers included): about 7 s of CPU at the start of every training job,
for three small classes. tests/learn/test_resnet.py checks the equivalence against MONAI.
"""

from __future__ import annotations

import torch
from torch import nn


class ResNetBlock(nn.Module):
    """Two 3×3×3 convolutions and a shortcut (MONAI's ``ResNetBlock``)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, planes, kernel_size=3, padding=1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.act(out)


class ResNetBottleneck(nn.Module):
    """1×1, 3×3×3 and 1×1 convolutions and a shortcut (MONAI's ``ResNetBottleneck``)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.act = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.act(out)


class ResNet(nn.Module):
    """Stem (7³ convolution, BatchNorm, ReLU, max-pool) and four stages; MONAI's ``ResNet`` with
    ``spatial_dims=3``, ``shortcut_type="B"`` and ``feed_forward=False``."""

    def __init__(
        self,
        block: type[ResNetBlock | ResNetBottleneck],
        layers: list[int],
        n_input_channels: int = 3,
        conv1_t_size: int = 7,
        conv1_t_stride: int = 1,
        no_max_pool: bool = False,
        widen_factor: float = 1.0,
        bias_downsample: bool = True,
    ) -> None:
        super().__init__()
        planes = [int(x * widen_factor) for x in (64, 128, 256, 512)]
        self.in_planes = planes[0]
        self.no_max_pool = no_max_pool
        self.bias_downsample = bias_downsample
        self.conv1 = nn.Conv3d(
            n_input_channels,
            self.in_planes,
            kernel_size=(conv1_t_size,) * 3,
            stride=(conv1_t_stride,) * 3,
            padding=(conv1_t_size // 2,) * 3,
            bias=False,
        )
        self.bn1 = nn.BatchNorm3d(self.in_planes)
        self.act = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = None
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(
        self, block: type[ResNetBlock | ResNetBottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self.in_planes, planes * block.expansion, kernel_size=1, stride=stride, bias=self.bias_downsample
                ),
                nn.BatchNorm3d(planes * block.expansion),
            )
        layers = [block(self.in_planes, planes, stride=stride, downsample=downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled layer4 features (B, C)."""
        x = self.act(self.bn1(self.conv1(x)))
        if not self.no_max_pool:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


def resnet10(**kwargs: object) -> ResNet:
    """MONAI's ``resnet10``: basic blocks, one per stage."""
    return ResNet(ResNetBlock, [1, 1, 1, 1], **kwargs)  # type: ignore[arg-type]


def resnet18(**kwargs: object) -> ResNet:
    """MONAI's ``resnet18``: basic blocks, two per stage."""
    return ResNet(ResNetBlock, [2, 2, 2, 2], **kwargs)  # type: ignore[arg-type]


def resnet50(**kwargs: object) -> ResNet:
    """MONAI's ``resnet50``: bottleneck blocks, 3, 4, 6 and 3 per stage."""
    return ResNet(ResNetBottleneck, [3, 4, 6, 3], **kwargs)  # type: ignore[arg-type]
