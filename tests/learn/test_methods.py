"""Methods train exactly the intended parameters, keep frozen BatchNorm statistics, and reload exactly."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import load_trained_model, make_model
from neuropeft.learn.methods import count_parameters, save_weights

SHAPE = (16, 16, 16)
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _is_norm(name: str, backbone: str) -> bool:
    if backbone.startswith("vit"):
        return re.search(r"(norm\d?)\.(weight|bias)$", name) is not None
    return re.search(r"(bn\d|downsample\.1)\.(weight|bias)$", name) is not None


def _expected_trainable(name: str, backbone: str, method: str) -> bool:
    """What each method should train, written independently of the implementation."""
    if ".original_module." in name:
        return False
    if "head." in name or method in ("full", "scratch"):
        return True
    return {
        "lora": "lora_" in name,
        "dora": "lora_" in name,
        "attention": re.search(r"attn\.(qkv|proj)\.(weight|bias)$", name) is not None,
        "layernorm": _is_norm(name, backbone),
        "linear_probe": False,
    }[method]


def _settings(backbone: str, method: str, head: str = "mlp") -> ExperimentSettings:
    return dataclasses.replace(
        ExperimentSettings(), backbone=backbone, method=method, head=head, lora_rank=2, head_hidden=16, seed=3
    )


def _steps(model: torch.nn.Module, n: int = 2) -> None:
    x = torch.randn(4, 1, *SHAPE, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(n):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


CASES = [("resnet10", m) for m in ("lora", "dora", "layernorm", "linear_probe", "full", "scratch")] + [
    ("vit-tiny", m) for m in ("lora", "dora", "attention", "layernorm", "linear_probe", "full")
]


@pytest.mark.parametrize(("backbone", "method"), CASES)
def test_only_intended_parameters_change(backbone: str, method: str) -> None:
    model = make_model(_settings(backbone, method), 1, SHAPE, 2, "random")
    names = dict(model.named_parameters())
    expected = {n for n in names if _expected_trainable(n, backbone, method)}
    assert {n for n, p in names.items() if p.requires_grad} == expected
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _steps(model)
    assert {n for n, p in names.items() if p.grad is not None} == expected
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    trains_bn = backbone == "resnet10" and method in ("layernorm", "full", "scratch")
    bn_stats = {k for k in before if k.endswith(BN_BUFFERS)}
    assert changed == expected | (bn_stats if trains_bn else set())
    if not trains_bn:
        assert not changed & bn_stats  # frozen BatchNorm kept its running statistics


@pytest.mark.parametrize(
    ("backbone", "method"),
    [
        ("resnet10", "lora"),
        ("resnet10", "dora"),
        ("resnet10", "layernorm"),
        ("resnet10", "linear_probe"),
        ("vit-tiny", "attention"),
        ("vit-tiny", "scratch"),
    ],
)
def test_saved_weights_reload_to_identical_predictions(tmp_path, backbone: str, method: str) -> None:
    settings = _settings(backbone, method)
    model = make_model(settings, 1, SHAPE, 2, "random")
    _steps(model)
    model.eval()
    x = torch.randn(3, 1, *SHAPE)
    with torch.no_grad():
        expected = model(x)
    saved = save_weights(model, method, tmp_path)
    if method in ("lora", "dora"):
        assert sorted(p.name for p in saved.iterdir() if p.suffix != ".md") == [
            "adapter_config.json",
            "adapter_model.safetensors",
        ]
    reloaded = load_trained_model(tmp_path, settings, 1, SHAPE, 2).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x), expected)


def test_lora_targets_the_residual_block_convolutions_only() -> None:
    model = make_model(_settings("resnet10", "lora"), 1, SHAPE, 2, "random")
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A." in n}
    assert len(adapted) == 11  # 4 layers × (conv1, conv2) + 3 downsample convolutions; the stem is not adapted
    assert not any(n.endswith("net.conv1") for n in adapted)


def test_conv_head_uses_the_feature_map() -> None:
    model = make_model(_settings("vit-tiny", "linear_probe", head="conv"), 1, SHAPE, 3, "random").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, *SHAPE)).shape == (2, 3)
    assert count_parameters(model).trainable == count_parameters(model).head


def test_attention_on_a_resnet_is_refused() -> None:
    with pytest.raises(NeuropeftError, match="needs a ViT backbone"):
        make_model(_settings("resnet10", "attention"), 1, SHAPE, 2, "random")


def test_vit_uses_timm_names() -> None:
    model = make_model(_settings("vit-tiny", "full"), 2, (32, 32, 32), 2, "random")
    names = set(dict(model.named_parameters()))
    for key in (
        "patch_embed.proj.weight",
        "blocks.1.norm1.weight",
        "blocks.1.attn.qkv.bias",
        "blocks.1.attn.proj.weight",
        "blocks.1.norm2.bias",
        "blocks.1.mlp.fc1.weight",
        "blocks.1.mlp.fc2.weight",
        "norm.weight",
    ):
        assert f"backbone.net.{key}" in names
    assert "backbone.net.pos_embed" not in names  # fixed sin-cos buffer, not trained
    with torch.no_grad():
        assert model.backbone.feature_map(torch.randn(1, 2, 32, 32, 32)).shape == (1, 48, 4, 4, 4)


@pytest.mark.parametrize("method", ["lora", "linear_probe"])
def test_head_norm_learns_feature_statistics_adds_no_parameters_and_reloads(tmp_path, method: str) -> None:
    plain = make_model(_settings("resnet10", method), 1, SHAPE, 2, "random")
    settings = dataclasses.replace(_settings("resnet10", method), head_norm=True)
    model = make_model(settings, 1, SHAPE, 2, "random")
    assert count_parameters(model).trainable == count_parameters(plain).trainable
    active_head = [
        k for k in model.state_dict() if "head" in k and ".original_module." not in k
    ]  # peft keeps an inactive copy
    stats = {k: model.state_dict()[k].clone() for k in active_head if k.endswith("running_var")}
    backbone_stats = {
        k: v.clone() for k, v in model.state_dict().items() if "head" not in k and k.endswith("running_var")
    }
    assert stats and backbone_stats
    _steps(model)
    state = model.state_dict()
    assert all(
        not torch.equal(state[k], v) for k, v in stats.items()
    )  # the head's norm learned the features' statistics
    assert all(torch.equal(state[k], v) for k, v in backbone_stats.items())  # the frozen backbone's did not change
    model.eval()
    x = torch.randn(3, 1, *SHAPE)
    with torch.no_grad():
        expected = model(x)
    save_weights(model, method, tmp_path)
    reloaded = load_trained_model(tmp_path, settings, 1, SHAPE, 2).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x), expected)
