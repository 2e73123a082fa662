"""FLOP counts of a training step match the analytic count; GPU peaks are read from the name."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.flops import model_flop_utilisation, peak_bf16_flops, step_flops, training_step_flops


def small_net() -> nn.Module:
    """conv 2->4 (3³, same) on 8³, ReLU, conv 4->8 (3³, stride 2) to 4³, global mean, linear 8->3."""
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(4, 8, 3, stride=2, padding=1),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def analytic_step_flops(batch: int, first_conv_trains: bool = True) -> int:
    """2 FLOPs per multiply-add, forward; backward: the weight gradient of a trained layer, the input gradient of
    a layer with something trained before it (the same count each).
    """
    conv1 = 2 * batch * 4 * 2 * 27 * 8**3
    conv2 = 2 * batch * 8 * 4 * 27 * 4**3
    linear = 2 * batch * 8 * 3
    if first_conv_trains:
        return conv1 * 2 + conv2 * 3 + linear * 3
    return conv1 + conv2 * 2 + linear * 3  # conv1 frozen: no backward through it, nor into conv2's input


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_small_conv_net_matches_analytic_count(device: str) -> None:
    with torch.device(device):
        net = small_net()
        x = torch.randn(5, 2, 8, 8, 8)
        target = torch.arange(5) % 3
    assert step_flops(net, x, target) == analytic_step_flops(5)


def test_frozen_layer_has_no_weight_gradient_flops() -> None:
    net = small_net()
    net[0].requires_grad_(False)
    assert step_flops(net, torch.randn(2, 2, 8, 8, 8), torch.zeros(2, dtype=torch.long)) == analytic_step_flops(
        2, first_conv_trains=False
    )


def test_attention_counted_on_meta() -> None:
    """The ViT's attention products are counted (on the CPU the fused kernel would count 0)."""
    settings = dataclasses.replace(ExperimentSettings(), backbone="vit-tiny", method="full", head="linear")
    # vit-tiny: patch 8, dim 48, 2 blocks, 4 heads; 32³ -> 64 tokens; QK^T and AV: 2 × 2·B·N²·dim each block
    attention_forward = 2 * 2 * 2 * 64 * 64 * 48
    with_attention = training_step_flops(settings, 1, 32, batch=1)
    assert with_attention > 3 * attention_forward
    assert training_step_flops(settings, 1, 32, batch=3) == 3 * with_attention


def test_linear_probe_counts_less_than_full() -> None:
    base = dataclasses.replace(ExperimentSettings(), backbone="resnet10", head="linear")
    full = training_step_flops(dataclasses.replace(base, method="full"), 2, 32, batch=2)
    probe = training_step_flops(dataclasses.replace(base, method="linear_probe"), 2, 32, batch=2)
    assert full > 2 * probe > 0


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A100 80GB PCIe", 312e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA L40", None),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_peak_from_gpu_name(name: str, peak: float | None) -> None:
    assert peak_bf16_flops(name) == peak


def test_mfu() -> None:
    assert model_flop_utilisation(500e12, 2.0, 1000e12) == pytest.approx(0.25)
    assert model_flop_utilisation(500e12, 2.0, None) is None
