"""learn/resnet.py and the ViT's sin-cos positions reproduce MONAI's (same keys, seeded weights, outputs)."""

from __future__ import annotations

import warnings

import pytest
import torch

from neuropeft.learn import resnet
from neuropeft.learn.vit import sincos_position_embedding

monai_nets = pytest.importorskip("monai.networks.nets")

#: the backbones' ResNets (learn/backbones.py) and their arguments
RESNETS = [
    ("resnet10", {"conv1_t_stride": 2}),
    ("resnet18", {"conv1_t_stride": 2}),
    ("resnet50", {"widen_factor": 2, "conv1_t_stride": 2, "bias_downsample": True}),
]


@pytest.mark.parametrize(("name", "kwargs"), RESNETS)
def test_the_modules_and_shapes_are_monais(name: str, kwargs: dict) -> None:
    with torch.device("meta"):
        ours = getattr(resnet, name)(n_input_channels=2, **kwargs)
        theirs = getattr(monai_nets, name)(n_input_channels=2, feed_forward=False, **kwargs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]

    def kinds(net: torch.nn.Module) -> list[str]:
        return [type(m).__name__ for m in net.modules()]

    assert kinds(ours) == kinds(theirs)
    assert ours.in_planes == theirs.in_planes


@pytest.mark.parametrize(("name", "kwargs"), RESNETS[:2])
def test_a_seed_gives_monais_weights_and_outputs(name: str, kwargs: dict) -> None:
    torch.manual_seed(3)
    ours = getattr(resnet, name)(n_input_channels=2, **kwargs)
    torch.manual_seed(3)
    theirs = getattr(monai_nets, name)(n_input_channels=2, feed_forward=False, **kwargs)
    for (key, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    x = torch.randn(2, 2, 24, 20, 16)
    for mode in (True, False):
        ours.train(mode), theirs.train(mode)
        assert torch.equal(ours(x), theirs(x))


def test_sincos_positions_are_monais() -> None:
    from monai.networks.blocks.pos_embed_utils import build_sincos_position_embedding

    for grid, dim in (((2, 3, 4), 48), ((5, 6, 5), 384)):
        with warnings.catch_warnings():  # MONAI calls torch.meshgrid without indexing=
            warnings.simplefilter("ignore", UserWarning)
            expected = build_sincos_position_embedding(list(grid), dim, spatial_dims=3)
        assert torch.equal(sincos_position_embedding(grid, dim), expected.detach())
