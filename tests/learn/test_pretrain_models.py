"""Pre-training models: MAE masking and targets, reconstruction, SimCLR views and NT-Xent, stem adaptation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from neuropeft.learn.backbones import build_backbone
from neuropeft.learn.data import Augment
from neuropeft.learn.pretrain import PretrainSettings, build_pretrain_model, save_backbone
from neuropeft.learn.pretrain.cnn import corrupt, nt_xent
from neuropeft.learn.pretrain.data import AugmentedViews
from neuropeft.learn.pretrain.mae import patchify


def blobs(n: int, side: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Volumes holding one gaussian ball each (random centre and radius) plus a little noise."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).astype(np.float32)
    volumes = []
    for _ in range(n):
        centre, radius = rng.uniform(side * 0.3, side * 0.7, 3), rng.uniform(side * 0.12, side * 0.25)
        ball = np.exp(-((grid - centre) ** 2).sum(-1) / (2 * radius**2))
        volumes.append(
            np.stack([ball * (1 + k) for k in range(channels)]) + rng.normal(0, 0.05, (channels, side, side, side))
        )
    return np.stack(volumes).astype(np.float32)


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.9])
def test_mae_hides_the_configured_fraction_of_tokens(ratio: float) -> None:
    model = build_pretrain_model(
        PretrainSettings(backbone="vit-tiny", strategy="mae", mask_ratio=ratio, decoder_dim=48, decoder_heads=4),
        1,
        (32, 32, 32),
    )
    tokens = 64  # (32 / patch 8)³
    encoded, mask, restore = model.encode_visible(torch.randn(3, 1, 32, 32, 32))
    hidden = tokens - round(tokens * (1 - ratio))
    assert mask.shape == (3, tokens)
    assert mask.sum(dim=1).tolist() == [hidden] * 3
    assert encoded.shape == (3, tokens - hidden, 48)
    assert not torch.equal(mask[0], mask[1])  # each volume draws its own mask
    assert torch.equal(restore.argsort(dim=1).argsort(dim=1), restore)


def test_patchify_follows_the_patch_embedding_token_order() -> None:
    """Token t's target voxels are the voxels token t was embedded from."""
    torch.manual_seed(0)
    backbone = build_backbone("vit-tiny", 2, (16, 24, 32))
    proj = backbone.net.patch_embed.proj
    positions = [(j % 2, (5 * j) % 8, (3 * j) % 8, (7 * j) % 8) for j in range(48)]  # (channel, a, b, c)
    with torch.no_grad():
        proj.weight.zero_()
        proj.bias.zero_()
        for j, (ch, a, b, c) in enumerate(positions):
            proj.weight[j, ch, a, b, c] = 1
    x = torch.randn(2, 2, 16, 24, 32)
    embedded = backbone.net.patch_embed(x)
    patches = patchify(x, 8)
    assert patches.shape == (2, 2 * 3 * 4, 8**3 * 2)
    for j, (ch, a, b, c) in enumerate(positions):
        torch.testing.assert_close(embedded[..., j], patches[..., ((a * 8 + b) * 8 + c) * 2 + ch])


def test_mae_loss_counts_only_masked_patches() -> None:
    """Replacing the prediction of visible patches by anything leaves the loss unchanged."""
    model = build_pretrain_model(
        PretrainSettings(backbone="vit-tiny", strategy="mae", decoder_dim=48, decoder_heads=4, norm_pix_loss=False),
        1,
        (32, 32, 32),
    )
    x = torch.randn(2, 1, 1, 32, 32, 32)
    torch.manual_seed(5)
    loss = model(x)
    torch.manual_seed(5)
    _, mask, _ = model.encode_visible(x[:, 0])
    original = model.decode

    def decode_visible_wrong(encoded: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        return original(encoded, restore) + 100 * (1 - mask)[..., None]

    model.decode = decode_visible_wrong
    torch.manual_seed(5)
    torch.testing.assert_close(model(x), loss)


def test_input_masking_zeroes_whole_cubes_at_the_ratio() -> None:
    torch.manual_seed(0)
    out = corrupt(torch.ones(64, 1, 20, 20, 20), mask_ratio=0.3, mask_patch=8, noise_std=0.0)
    cubes = out[:, 0, :16, :16, :16].reshape(64, 2, 8, 2, 8, 2, 8).permute(0, 1, 3, 5, 2, 4, 6).reshape(-1, 512)
    assert ((cubes == 0).all(1) | (cubes == 1).all(1)).all()  # cubes are zeroed whole
    assert abs((cubes[:, 0] == 0).float().mean().item() - 0.3) < 0.06


def _steps(model: torch.nn.Module, batch: torch.Tensor, steps: int, lr: float) -> tuple[float, float]:
    """Loss on ``batch`` before and after ``steps`` AdamW steps on it (train mode, fixed seed)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps + 1):
        torch.manual_seed(1)
        loss = model(batch)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses[0], losses[-1]


def test_reconstruction_loss_falls() -> None:
    torch.manual_seed(0)
    settings = PretrainSettings(backbone="resnet10", strategy="reconstruction", decoder_dim=32, input_noise_std=0.1)
    model = build_pretrain_model(settings, 1, (24, 24, 24))
    before, after = _steps(model, torch.from_numpy(blobs(4, 24))[:, None], steps=12, lr=1e-3)
    assert after < 0.5 * before


def test_contrastive_loss_falls(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", blobs(6, 24))
    views = AugmentedViews(tmp_path / "a.npy", range(6), Augment(flip=True, intensity=0.2), 0.05, views=2)
    batch = torch.stack([views[i] for i in range(6)])
    model = build_pretrain_model(
        PretrainSettings(backbone="resnet10", strategy="contrastive", temperature=0.2), 1, (24, 24, 24)
    )
    before, after = _steps(model, batch, steps=10, lr=3e-4)
    assert after < 0.5 * before


def test_views_are_two_augmentations_of_the_same_volume(tmp_path: Path) -> None:
    volumes = blobs(4, 24)
    np.save(tmp_path / "a.npy", volumes)
    augment = Augment(flip=True, rotate_deg=10, scale=0.1, intensity=0.2)
    dataset = AugmentedViews(tmp_path / "a.npy", range(4), augment, 0.05, views=2, seed=3)
    item = dataset[1]
    assert item.shape == (2, 1, 24, 24, 24)
    assert not torch.allclose(item[0], item[1])

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    flipped = volumes[1][:, ::-1]
    for view in item.numpy():
        own = max(corr(view, volumes[1]), corr(view, flipped))
        others = [max(corr(view, v), corr(view, v[:, ::-1])) for k, v in enumerate(volumes) if k != 1]
        assert own > 0.8 and own > max(others) + 0.1
    assert torch.equal(dataset[1], item)  # seeded by (seed, epoch, item, view)
    dataset.epoch = 1
    assert not torch.allclose(dataset[1], item)


def test_nt_xent_of_identical_views_is_lower_than_of_shuffled_pairs() -> None:
    torch.manual_seed(0)
    z = torch.randn(8, 16)
    shuffled = z[torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])]
    assert nt_xent(z, z, 0.1) < nt_xent(z, shuffled, 0.1) - 1
    # orthonormal pairs: the positive scores 1/τ, the 2B - 2 = 2 negatives 0
    e = torch.eye(2, 4)
    expected = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + 2))
    assert nt_xent(e, e, 0.5).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("backbone", "pretrained", "finetuned"),
    [("vit-tiny", 2, 3), ("vit-tiny", 3, 1), ("resnet10", 1, 2), ("resnet10", 2, 1)],
)
def test_stem_adapts_to_another_channel_count(tmp_path: Path, backbone: str, pretrained: int, finetuned: int) -> None:
    """A C-channel image with equal channels gets the C'-channel model's response to equal channels."""
    torch.manual_seed(0)
    source = build_backbone(backbone, pretrained, (16, 16, 16)).eval()
    path = tmp_path / "backbone.safetensors"
    holder = torch.nn.Module()
    holder.backbone = source
    save_backbone(holder, path)
    target = build_backbone(backbone, finetuned, (16, 16, 16))
    target.load_pretrained(path)
    target.eval()
    x = torch.randn(2, 1, 16, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            target(x.repeat(1, finetuned, 1, 1, 1)), source(x.repeat(1, pretrained, 1, 1, 1)), rtol=1e-4, atol=1e-5
        )
    key = source.stem_key
    torch.testing.assert_close(target.net.state_dict()[key].sum(1), source.net.state_dict()[key].sum(1))
