"""Segmentation methods train exactly the intended parameters, counted by hand from the architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.methods import load_weights, save_weights
from neuropeft.segment.methods import Adapters, apply_method, format_method_counts, method_counts
from neuropeft.segment.models import build_segmentation_model

HIDDEN, FEATURES, CLASSES, RANK = 32, 4, 3, 4
TINY_UNETR = {"hidden_size": HIDDEN, "mlp_dim": 64, "num_heads": 2, "feature_size": FEATURES}
SHAPE = (32, 32, 32)
UNETR_BLOCKS = 12  # fixed in MONAI's UNETR
HEAD = FEATURES * CLASSES + CLASSES  # the output block: a 1x1x1 convolution with bias


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def unetr_counts() -> dict:
    return {c.method: c for c in method_counts("unetr", 1, CLASSES, SHAPE, **TINY_UNETR)}


def test_lora_and_dora_on_q_and_v_of_every_unetr_block(unetr_counts: dict) -> None:
    per_projection = RANK * (HIDDEN + HIDDEN)  # A: r x d_in, B: d_out x r
    lora = UNETR_BLOCKS * 2 * per_projection
    dora = lora + UNETR_BLOCKS * 2 * HIDDEN  # plus one magnitude per output feature
    assert (unetr_counts["lora"].adapters, unetr_counts["lora"].trainable) == (lora, lora + HEAD)
    assert (unetr_counts["dora"].adapters, unetr_counts["dora"].trainable) == (dora, dora + HEAD)
    assert unetr_counts["lora"].total == unetr_counts["full"].total + lora


def test_lora_on_swin_unetr_qkv() -> None:
    counts = {c.method: c for c in method_counts("swin-unetr-tiny", 1, 2, SHAPE, methods=["lora", "full"])}
    depths, feature_size = (1, 1, 1, 1), 12
    widths = [feature_size * 2**stage for stage in range(4)]
    lora = sum(depth * RANK * (d + 3 * d) for depth, d in zip(depths, widths, strict=True))  # qkv: d -> 3d
    assert counts["lora"].adapters == lora
    assert counts["lora"].trainable == lora + feature_size * 2 + 2


def test_method_shares_are_ordered(unetr_counts: dict) -> None:
    full, scratch, decoder, lora = (unetr_counts[m] for m in ("full", "scratch", "decoder", "lora"))
    assert full.trainable == full.total and full.share == 1.0
    assert scratch.total == full.total and scratch.trainable == full.trainable
    assert 0 < decoder.trainable < full.trainable
    assert lora.share < decoder.share < 1.0
    assert unetr_counts["dora"].share > lora.share


def test_lora_training_the_decoder_adds_the_adapters_to_the_decoder(unetr_counts: dict) -> None:
    (both,) = method_counts(
        "unetr", 1, CLASSES, SHAPE, methods=["lora"], adapters=Adapters(train_decoder=True), **TINY_UNETR
    )
    assert both.trainable == unetr_counts["decoder"].trainable + unetr_counts["lora"].adapters


def test_format_method_counts(unetr_counts: dict) -> None:
    lines = format_method_counts(unetr_counts.values()).splitlines()
    assert lines[0].split("\t") == ["method", "trainable_params", "total_params", "adapter_params", "trainable_percent"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["lora", "dora", "decoder", "full", "scratch"]
    assert lines[4].endswith("\t100.000")


def _trained(method: str, adapters: Adapters | None = None) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A tiny UNETR after two AdamW steps of ``method``, and its parameters before them."""
    torch.manual_seed(0)
    model = build_segmentation_model("unetr", 1, CLASSES, SHAPE, **TINY_UNETR)
    model = apply_method(model, method, adapters or Adapters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = torch.randn(2, 1, *SHAPE), torch.randint(0, CLASSES, (2, *SHAPE))
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model, before


def _changed_after_steps(method: str) -> set[str]:
    """Names of the parameters two AdamW steps changed (peft's prefixes and adapter names removed)."""
    model, before = _trained(method)
    return {
        n.removeprefix("base_model.model.").replace(".modules_to_save.default", "").replace(".base_layer", "")
        for n, p in model.named_parameters()
        if not torch.equal(p, before[n])
    }


def test_lora_changes_only_the_q_and_v_adapters_and_the_output_block() -> None:
    changed = _changed_after_steps("lora")
    adapters = {n for n in changed if "lora_" in n}
    assert {n.split(".attn.")[1].split(".")[0] for n in adapters} == {"to_q", "to_v"}
    assert len(adapters) == UNETR_BLOCKS * 2 * 2  # A and B of q and v in every block
    assert changed - adapters == {"net.out.conv.conv.weight", "net.out.conv.conv.bias"}


def test_decoder_method_leaves_the_encoder_unchanged() -> None:
    changed = _changed_after_steps("decoder")
    assert not any(n.startswith("net.vit.") for n in changed)
    assert {n.split(".")[1] for n in changed} == {
        "encoder1",
        "encoder2",
        "encoder3",
        "encoder4",
        "decoder5",
        "decoder4",
        "decoder3",
        "decoder2",
        "out",
    }


def test_unknown_method() -> None:
    model = build_segmentation_model("unetr", 1, CLASSES, SHAPE, **TINY_UNETR)
    with pytest.raises(NeuropeftError, match="segmentation method 'linear_probe' is not one of"):
        apply_method(model, "linear_probe")


@pytest.mark.parametrize(("method", "train_decoder"), [("lora", False), ("dora", True)])
def test_peft_model_saves_and_reloads_exactly(tmp_path: Path, method: str, train_decoder: bool) -> None:
    """learn.methods' save_weights/load_weights keep what trained (adapters, output block or decoder)."""
    model, _ = _trained(method, Adapters(train_decoder=train_decoder))
    save_weights(model, method, tmp_path)
    torch.manual_seed(0)
    reloaded = load_weights(build_segmentation_model("unetr", 1, CLASSES, SHAPE, **TINY_UNETR), method, tmp_path)
    x = torch.randn(1, 1, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reloaded.eval()(x))
