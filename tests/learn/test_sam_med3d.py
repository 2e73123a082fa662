"""SAM-Med3D's image encoder: exact size, upstream names and arithmetic, checkpoint keys, selective LoRA, conv heads.

The full-size encoder is counted and run at 128³ on the meta device; it runs on the CPU at 32³ (a 2³
token grid: its windowed blocks still attend within one zero-padded 14³ window, as at 128³). A
small variant of the same code checks windows that tile the grid, resized positions and gradients.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from torch import nn

from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import SamMed3DBackbone, build_backbone
from neuropeft.learn.checkpoint import load_strict
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.heads import MAP_HEADS, build_head
from neuropeft.learn.methods import apply_method, count_parameters
from neuropeft.learn.model import BackboneWithHead, build_model
from neuropeft.learn.sam_med3d import (
    ImageEncoderViT3D,
    decomposed_rel_pos_bias,
    encoder_state_dict,
    get_rel_pos,
    window_partition3D,
    window_unpartition3D,
)

GLOBAL_BLOCKS = [2, 5, 8, 11]
SMALL = {
    "img_size": 32,
    "patch_size": 8,
    "embed_dim": 48,
    "depth": 4,
    "num_heads": 4,
    "out_chans": 16,
    "window_size": 3,
    "global_attn_indexes": (1, 3),
}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _small_model(head: str = "linear") -> BackboneWithHead:
    """A SAM-Med3D of the same code, small enough for CPU training steps."""
    torch.manual_seed(0)
    backbone = SamMed3DBackbone(ImageEncoderViT3D(in_chans=1, **SMALL), SMALL["out_chans"])
    return BackboneWithHead(backbone, build_head(head, backbone.feature_dim, 2), use_map=head in MAP_HEADS)


def _settings(method: str, **changes: object) -> ExperimentSettings:
    return dataclasses.replace(ExperimentSettings(), backbone="sam-med3d", method=method, **changes)


def _adapted(model: nn.Module) -> set[str]:
    """Names of the modules that carry a LoRA/DoRA adapter."""
    return {name.rsplit(".lora_A", 1)[0] for name, _ in model.named_modules() if name.endswith(".lora_A")}


@pytest.fixture(scope="module")
def full_size() -> SamMed3DBackbone:
    """The full-size encoder with random weights on the CPU (about 370 MB)."""
    torch.manual_seed(0)
    backbone = build_backbone("sam-med3d", 1, (32, 32, 32))
    assert isinstance(backbone, SamMed3DBackbone)
    return backbone.eval()


# --- size and shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [128, 64])
def test_vit_b_ori_has_the_anchor_parameter_counts(side: int) -> None:
    with torch.device("meta"):
        backbone = build_backbone("sam-med3d", 1, (side,) * 3)
    assert _count(backbone.net) == 92_924_928
    assert _count(backbone.net) - _count(backbone.net.neck) == 88_647_168
    assert backbone.feature_dim == 384


def test_relative_position_tables_are_sized_for_windows_and_the_global_grid() -> None:
    with torch.device("meta"):
        net = build_backbone("sam-med3d", 1, (128, 128, 128)).net
    for i, block in enumerate(net.blocks):
        rows = 2 * 8 - 1 if i in GLOBAL_BLOCKS else 2 * 14 - 1
        assert block.window_size == (0 if i in GLOBAL_BLOCKS else 14)
        for axis in "dhw":
            assert getattr(block.attn, f"rel_pos_{axis}").shape == (rows, 64)


def test_full_size_shapes_at_128_on_meta() -> None:
    with torch.device("meta"):
        backbone = build_backbone("sam-med3d", 1, (128, 128, 128))
        x = torch.zeros(2, 1, 128, 128, 128)
        assert backbone.feature_map(x).shape == (2, 384, 8, 8, 8)
        assert backbone(x).shape == (2, 384)


def test_full_size_runs_on_cpu_at_32(full_size: SamMed3DBackbone) -> None:
    x = torch.randn(1, 1, 32, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = full_size.feature_map(x)
    assert features.shape == (1, 384, 2, 2, 2)
    assert torch.isfinite(features).all()


@pytest.mark.parametrize("shape", [(128, 128, 96), (120, 120, 120)])
def test_a_non_cubic_or_indivisible_input_is_refused(shape: tuple[int, int, int]) -> None:
    with pytest.raises(NeuropeftError, match="cubic input with sides divisible by 16"), torch.device("meta"):
        build_backbone("sam-med3d", 1, shape)


# --- upstream arithmetic ------------------------------------------------------------------------------


def test_relative_position_bias_follows_upstreams_broadcasting() -> None:
    """bias[q=(d,h,w), k=(kd,kh,kw)] = q(d,h,w)·Rd[d,kw] + q(d,h,kd)·Rh[h,kw] + q(d,h,kh)·Rw[kh,kw]."""
    side, dim = 3, 5
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(2, 1, side**3, dim, generator=generator, dtype=torch.float64)
    tables = [torch.randn(2 * side - 1, dim, generator=generator, dtype=torch.float64) for _ in range(3)]
    rd, rh, rw = (get_rel_pos(side, t) for t in tables)
    grid = q.reshape(2, side, side, side, dim)
    expected = torch.zeros(2, side, side, side, side, side, side, dtype=torch.float64)
    for d, h, w, kd, kh, kw in itertools.product(range(side), repeat=6):
        expected[:, d, h, w, kd, kh, kw] = (
            grid[:, d, h, w] @ rd[d, kw] + grid[:, d, h, kd] @ rh[h, kw] + grid[:, d, h, kh] @ rw[kh, kw]
        )
    torch.testing.assert_close(decomposed_rel_pos_bias(q, tables, side), expected.reshape(2, 1, side**3, side**3))
    assert torch.equal(rd[0, 2], tables[0][0 - 2 + side - 1])  # R[i, j] = table[i - j + side - 1]
    resized = get_rel_pos(side + 1, tables[0])  # a table for 3 positions used on 4: 5 rows resized to 7
    assert resized.shape == (side + 1, side + 1, dim)
    torch.testing.assert_close(resized[0, 0], tables[0][side - 1])  # the centre row stays


def test_windows_pad_and_round_trip() -> None:
    x = torch.randn(2, 5, 5, 5, 4)
    windows, padded = window_partition3D(x, 3)
    assert padded == (6, 6, 6) and windows.shape == (16, 3, 3, 3, 4)
    assert torch.equal(windows[0], x[0, :3, :3, :3])
    assert torch.equal(windows[-1][2:, 2:, 2:], torch.zeros(1, 1, 1, 4))  # the padding
    assert torch.equal(window_unpartition3D(windows, 3, padded, (5, 5, 5)), x)


def test_small_variant_resizes_positions_and_trains_every_position_table() -> None:
    model = _small_model()
    net = model.backbone.net
    with torch.no_grad():
        for name, param in net.named_parameters():
            if "pos" in name:
                param.normal_()
    for side in (32, 48):  # 4³ tokens (the built grid) and 6³ (positions resized); windows of 3³
        model.zero_grad()
        x = torch.randn(2, 1, side, side, side, generator=torch.Generator().manual_seed(side))
        assert model.backbone.feature_map(x).shape == (2, 16, side // 8, side // 8, side // 8)
        nn.functional.cross_entropy(model(x), torch.tensor([0, 1])).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


# --- checkpoints ------------------------------------------------------------------------------------------


def test_upstream_names(full_size: SamMed3DBackbone) -> None:
    names = set(full_size.net.state_dict())
    block = {"norm1", "attn.qkv", "attn.proj", "norm2", "mlp.lin1", "mlp.lin2"}
    expected = {"pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "neck.0.weight", "neck.2.weight"}
    expected |= {f"neck.{i}.{p}" for i in (1, 3) for p in ("weight", "bias")}
    for i in range(12):
        expected |= {f"blocks.{i}.{m}.{p}" for m in block for p in ("weight", "bias")}
        expected |= {f"blocks.{i}.attn.rel_pos_{axis}" for axis in "dhw"}
    assert names == expected


def test_an_upstream_layout_checkpoint_loads_strictly(full_size: SamMed3DBackbone) -> None:
    source = {k: torch.randn_like(v) for k, v in full_size.net.state_dict().items()}
    checkpoint = {
        "model_state_dict": {
            **{"image_encoder." + k: v for k, v in source.items()},
            "mask_decoder.x": torch.zeros(3),
            "prompt_encoder.point_embeddings.0.weight": torch.zeros(1, 384),
        },
        "optimizer": {"lr": 0.1},
    }
    state, ignored = encoder_state_dict(checkpoint)
    assert ignored == ["mask_decoder.x", "prompt_encoder.point_embeddings.0.weight"]
    with torch.device("meta"):
        target = build_backbone("sam-med3d", 1, (128, 128, 128))
    target.net.to_empty(device="cpu")
    load_strict(target.net, state, "upstream.pth")
    assert all(torch.equal(v, target.net.state_dict()[k]) for k, v in source.items())


def test_a_checkpoint_without_the_encoder_is_refused() -> None:
    with pytest.raises(NeuropeftError, match="no image_encoder"):
        encoder_state_dict({"model_state_dict": {"mask_decoder.x": torch.zeros(1)}})


# --- selective attention block adaptation -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "blocks"), [("lora", GLOBAL_BLOCKS), ("dora", GLOBAL_BLOCKS), ("lora", [])])
def test_lora_blocks_adapt_only_those_qkv_layers(method: str, blocks: list[int]) -> None:
    with torch.device("meta"):
        model = apply_method(
            build_model("sam-med3d", "linear", 1, (128, 128, 128), 2), _settings(method, lora_blocks=blocks)
        )
    expected = {f"base_model.model.backbone.net.blocks.{i}.attn.qkv" for i in blocks or range(12)}
    assert _adapted(model) == expected


def test_lora_blocks_train_only_the_chosen_blocks() -> None:
    model = apply_method(_small_model(), _settings("lora", lora_blocks=[1], lora_rank=2))
    x = torch.randn(2, 1, 32, 32, 32)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1])).backward()
    trained = {n for n, p in model.named_parameters() if p.requires_grad and p.grad is not None and "lora_" in n}
    assert trained and all(".blocks.1.attn.qkv." in n for n in trained)
    assert _adapted(model) == {"base_model.model.backbone.net.blocks.1.attn.qkv"}


@pytest.mark.parametrize(
    ("backbone", "changes", "message"),
    [
        ("resnet10", {"lora_blocks": [0]}, "needs a backbone made of transformer blocks"),
        ("sam-med3d", {"lora_blocks": [2, 12]}, r"lora_blocks \[12\] are out of range: .* blocks 0-11"),
        ("sam-med3d", {"lora_blocks": [2], "lora_targets": ".*qkv"}, "set lora_targets or lora_blocks, not both"),
    ],
)
def test_lora_blocks_refusals(backbone: str, changes: dict[str, object], message: str) -> None:
    settings = dataclasses.replace(_settings("lora", **changes), backbone=backbone)
    with torch.device("meta"):
        model = build_model(backbone, "linear", 1, (64, 64, 64), 2)
    with pytest.raises(NeuropeftError, match=message):
        apply_method(model, settings)


def test_lora_targets_still_override_the_default() -> None:
    with torch.device("meta"):
        model = build_model("sam-med3d", "linear", 1, (128, 128, 128), 2)
        model = apply_method(model, _settings("lora", lora_targets=r".*blocks\.0\.attn\.proj"))
    assert _adapted(model) == {"base_model.model.backbone.net.blocks.0.attn.proj"}


# --- heads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "expected"), [("linear", 770), ("conv_s", 1_770_242), ("conv_l", 3_982_850)])
def test_head_sizes_on_sam_med3d(head: str, expected: int) -> None:
    with torch.device("meta"):
        model = apply_method(build_model("sam-med3d", head, 1, (128, 128, 128), 2), _settings("linear_probe"))
    counts = count_parameters(model)
    assert counts.head == counts.trainable == expected
    if head == "conv_s":
        assert 1_600_000 <= expected <= 1_800_000  # the seed's CONV S is about 1.7 M


@pytest.mark.parametrize("head", ["conv_s", "conv_l"])
def test_conv_adapters_on_the_sam_med3d_map(head: str) -> None:
    adapter = build_head(head, 384, 2)
    assert sum(isinstance(m, nn.Conv3d) for m in adapter.modules()) == (2 if head == "conv_s" else 3)
    with torch.no_grad():
        assert adapter(torch.randn(2, 384, 8, 8, 8)).shape == (2, 2)


@pytest.mark.parametrize("head", ["conv_s", "conv_l"])
def test_conv_adapters_on_a_resnet_layer4_map(head: str) -> None:
    torch.manual_seed(0)
    model = build_model("resnet10", head, 1, (32, 32, 32), 3).eval()
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert model.features(x).shape[:2] == (1, 512)
        assert model(x).shape == (1, 3)
    assert 1_600_000 < count_parameters(model.head).total < 6_000_000
