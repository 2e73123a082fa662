"""Segmentation backbones: UNETR's split q/k/v keeps MONAI's computation, any grid fits, checkpoints load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.networks.nets import UNETR

from neuropeft.errors import NeuropeftError
from neuropeft.segment.models import build_segmentation_model, padded_shape

TINY_UNETR = {"hidden_size": 32, "mlp_dim": 64, "num_heads": 2, "feature_size": 4}
SHAPE = (32, 32, 32)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _monai_unetr(out_channels: int = 3) -> UNETR:
    return UNETR(1, out_channels, SHAPE, **TINY_UNETR)


def _unetr(out_channels: int = 3, shape: tuple[int, ...] = SHAPE) -> torch.nn.Module:
    return build_segmentation_model("unetr", 1, out_channels, shape, **TINY_UNETR)


def test_unetr_with_split_qkv_computes_what_monai_computes() -> None:
    torch.manual_seed(0)
    reference = _monai_unetr().eval()
    torch.manual_seed(0)
    model = _unetr().eval()
    names = {name for name, _ in model.named_parameters()}
    assert {f"net.vit.blocks.11.attn.to_{p}.weight" for p in "qkv"} <= names
    assert not any(".qkv." in name for name in names)
    x = torch.randn(2, 1, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_fused_unetr_checkpoint_loads_into_the_split_model(tmp_path: Path) -> None:
    reference = _monai_unetr().eval()
    path = tmp_path / "unetr.pt"
    torch.save({"state_dict": reference.state_dict()}, path)
    model = _unetr().eval()
    model.load_pretrained(path)
    x = torch.randn(1, 1, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_encoder_checkpoint_loads_the_encoder_only_and_another_class_count_keeps_the_head(tmp_path: Path) -> None:
    source = _unetr(out_channels=5)
    encoder = {k: v for k, v in source.net.state_dict().items() if k.startswith("vit.")}
    torch.save(encoder, tmp_path / "encoder.pt")
    torch.save(source.net.state_dict(), tmp_path / "network.pt")

    model = _unetr()
    decoder_before = model.net.decoder2.state_dict()
    model.load_pretrained(tmp_path / "encoder.pt")
    assert all(torch.equal(v, encoder[k]) for k, v in model.net.state_dict().items() if k.startswith("vit."))
    assert all(torch.equal(v, decoder_before[k]) for k, v in model.net.decoder2.state_dict().items())

    model = _unetr()
    head_before = model.net.out.state_dict()
    model.load_pretrained(tmp_path / "network.pt")  # 5 classes there, 3 here: all but the output block
    assert torch.equal(
        model.net.decoder2.state_dict()["transp_conv.conv.weight"],
        source.net.decoder2.state_dict()["transp_conv.conv.weight"],
    )
    assert all(torch.equal(v, head_before[k]) for k, v in model.net.out.state_dict().items())


def test_checkpoint_of_another_network_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save(
        build_segmentation_model(
            "unetr", 1, 3, SHAPE, hidden_size=48, num_heads=2, mlp_dim=64, feature_size=4
        ).net.state_dict(),
        path,
    )
    with pytest.raises(NeuropeftError, match="does not match the backbone: .*shape mismatch"):
        _unetr().load_pretrained(path)


def test_odd_grids_are_padded_and_cropped_back() -> None:
    model = _unetr(shape=(30, 40, 20))
    assert model.net.vit.patch_embedding.n_patches == 2 * 3 * 2  # padded to (32, 48, 32)
    assert model(torch.randn(1, 1, 30, 40, 20)).shape == (1, 3, 30, 40, 20)
    with pytest.raises(NeuropeftError, match=r"built for inputs \(30, 40, 20\)"):
        model(torch.randn(1, 1, 32, 40, 20))


def test_padded_shapes() -> None:
    assert padded_shape((32, 40, 32), 16) == (32, 48, 32)
    assert padded_shape((32, 40, 32), 32, cells_above_one=True) == (32, 64, 32)
    assert padded_shape((20, 32, 32), 32, cells_above_one=True) == (64, 32, 32)


def test_swin_unetr_trains_on_a_32_cube() -> None:
    """MONAI's Swin UNETR alone fails in training on 32³ (instance norm over one voxel at 1/32)."""
    model = build_segmentation_model("swin-unetr-tiny", 1, 2, SHAPE).train()
    logits = model(torch.randn(2, 1, *SHAPE))
    assert logits.shape == (2, 2, *SHAPE)
    logits.mean().backward()


def test_encoder_and_decoder() -> None:
    unetr = _unetr()
    assert unetr.decoder() == [
        "encoder1",
        "encoder2",
        "encoder3",
        "encoder4",
        "decoder5",
        "decoder4",
        "decoder3",
        "decoder2",
        "out",
    ]
    assert unetr.in_encoder("net.vit.blocks.0.attn.to_q.weight") and not unetr.in_encoder(
        "net.encoder1.layer.conv1.conv.weight"
    )
    swin = build_segmentation_model("swin-unetr-tiny", 1, 2, SHAPE)
    assert swin.in_encoder("net.swinViT.layers1.0.blocks.0.attn.qkv.weight")
    assert "encoder10" in swin.decoder() and "swinViT" not in swin.decoder()


def test_unknown_backbone_and_bad_sizes_are_one_line_errors() -> None:
    with pytest.raises(NeuropeftError, match="did you mean 'swin-unetr'"):
        build_segmentation_model("swin_unetr", 1, 2, SHAPE)
    with pytest.raises(NeuropeftError, match="'unetr': hidden_size should be divisible by num_heads"):
        build_segmentation_model("unetr", 1, 2, SHAPE, hidden_size=30, num_heads=4)
    with pytest.raises(NeuropeftError, match="'swin-unetr': feature_size should be divisible by 12"):
        build_segmentation_model("swin-unetr", 1, 2, SHAPE, feature_size=8)


def test_a_full_or_scratch_fold_saved_by_neuropeft_loads_as_init(tmp_path: Path) -> None:
    from neuropeft.learn.methods import save_weights

    source = _unetr().eval()
    path = save_weights(source, "scratch", tmp_path)  # keys net.…, as a fold's weights.safetensors
    model = _unetr().eval()
    model.load_pretrained(path)
    x = torch.randn(1, 1, *SHAPE)
    with torch.no_grad():
        assert torch.equal(model(x), source(x))
