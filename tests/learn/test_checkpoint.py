"""Checkpoint loading: wrappers, prefixes, strict key matching, pickled code, sha256 pin, stem widening."""

from __future__ import annotations

import fractions

import pytest
import torch
from safetensors.torch import save_file

from neuropeft.errors import NeuropeftError
from neuropeft.learn.backbones import build_backbone
from neuropeft.learn.checkpoint import read_state_dict, sha256_of


def _reference(in_channels: int = 1):
    torch.manual_seed(0)
    return build_backbone("resnet10", in_channels, (16, 16, 16))


@pytest.mark.parametrize(
    ("wrapper", "prefix"),
    [
        ("trunk_state_dict", ""),
        ("state_dict", "module."),
        ("state_dict", "model.trunk."),
        ("state_dict", "model.backbone."),
    ],
)
def test_wrapped_and_prefixed_checkpoints_load(tmp_path, wrapper: str, prefix: str) -> None:
    source = _reference()
    path = tmp_path / "model_weights.torch"
    torch.save({wrapper: {prefix + k: v for k, v in source.net.state_dict().items()}}, path)
    torch.manual_seed(1)
    target = build_backbone("resnet10", 1, (16, 16, 16))
    target.load_pretrained(path)
    for key, value in source.net.state_dict().items():
        assert torch.equal(value, target.net.state_dict()[key]), key


def test_safetensors_checkpoint_loads(tmp_path) -> None:
    source = _reference()
    save_file({k: v.contiguous() for k, v in source.net.state_dict().items()}, tmp_path / "w.safetensors")
    target = build_backbone("resnet10", 1, (16, 16, 16))
    target.load_pretrained(tmp_path / "w.safetensors")
    assert torch.equal(target.net.conv1.weight, source.net.conv1.weight)


def test_missing_and_unexpected_keys_listed_on_one_line(tmp_path) -> None:
    state = dict(_reference().net.state_dict())
    del state["layer4.0.bn2.running_var"]
    state["fc.weight"] = torch.zeros(2, 512)
    torch.save({"trunk_state_dict": state}, tmp_path / "ck.pt")
    with pytest.raises(NeuropeftError) as info:
        build_backbone("resnet10", 1, (16, 16, 16)).load_pretrained(tmp_path / "ck.pt")
    message = str(info.value)
    assert "\n" not in message
    assert "1 missing key(s) layer4.0.bn2.running_var" in message
    assert "1 unexpected key(s) fc.weight" in message


def test_pickled_code_refused(tmp_path) -> None:
    torch.save({"state_dict": {"conv1.weight": fractions.Fraction(1, 3)}}, tmp_path / "evil.pt")
    with pytest.raises(
        NeuropeftError, match=r"holds pickled code, refused by weights_only loading .*fractions\.Fraction"
    ):
        read_state_dict(tmp_path / "evil.pt")


def test_sha256_pin(tmp_path) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"trunk_state_dict": _reference().net.state_dict()}, path)
    assert read_state_dict(path, sha256_of(path))
    with pytest.raises(NeuropeftError, match="expected 00"):
        read_state_dict(path, "00" * 32)


def test_two_channel_stem_from_one_channel_weights(tmp_path) -> None:
    """Replicated kernel / C: an image with equal channels gives the 1-channel model's response."""
    source = _reference(1).eval()
    torch.save({"trunk_state_dict": source.net.state_dict()}, tmp_path / "ck.pt")
    target = build_backbone("resnet10", 2, (16, 16, 16))
    target.load_pretrained(tmp_path / "ck.pt")
    target.eval()
    constant = torch.full((1, 1, 16, 16, 16), 0.7)
    image = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        for x in (constant, image):
            torch.testing.assert_close(target(x.repeat(1, 2, 1, 1, 1)), source(x), rtol=1e-5, atol=1e-5)
    assert torch.allclose(target.net.conv1.weight.sum(1), source.net.conv1.weight.sum(1))
