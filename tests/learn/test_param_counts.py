"""Parameter counts reproduce the seeds (built on the meta device, no weights allocated).

Head conventions: the first seed counts an MLP head 4096→256→2 in both numbers; the third seed's
Table 1 counts Linear(d, 2) in ViT-B full/scratch and attention, in ViT-S attention and layernorm,
but not in ViT-B layernorm nor ViT-S full (see anchors.md). Our models always carry the head, so
the "without head" numbers are ours minus the head. LoRA is 122 below the table for both ViTs.
"""

from __future__ import annotations

import pytest

from neuropeft.cli import main as cli_main
from neuropeft.learn.param_counts import parameter_counts


def test_first_seed_fmcib_lora() -> None:
    counts = parameter_counts("fmcib-resnet50", "lora", "mlp", in_channels=1, num_classes=2, rank=2)
    assert counts.trainable == 1_638_146  # LoRA r=2 on the 52 convs of layer1-4 + MLP head (with head)
    assert counts.base == 185_527_170  # backbone + head, without adapters
    assert counts.base - counts.head == 184_477_824  # FMCIB alone, 1 channel
    assert round(counts.base / counts.trainable, 2) == 113.25


def test_fmcib_two_channels() -> None:
    counts = parameter_counts("fmcib-resnet50", "full", "linear", in_channels=2, num_classes=2)
    assert counts.total - counts.head == 184_521_728


@pytest.mark.parametrize(
    ("backbone", "method", "rank", "expected", "with_head"),
    [
        ("vit-b", "full", 8, 88_204_034, True),
        ("vit-b", "attention", 8, 28_349_954, True),  # qkv + proj + head
        ("vit-b", "layernorm", 8, 38_400, False),  # 25 LayerNorms, no head
        ("vit-b", "lora", 32, 1_181_186, True),  # table: 1,181,308 (122 more)
        ("vit-s", "full", 8, 12_220_800, False),  # without head
        ("vit-s", "attention", 8, 3_548_930, True),
        ("vit-s", "layernorm", 8, 10_754, True),  # 13 LayerNorms + head
        ("vit-s", "lora", 32, 295_682, True),  # table: 295,804 (122 more)
    ],
)
def test_third_seed_table1(backbone: str, method: str, rank: int, expected: int, with_head: bool) -> None:
    counts = parameter_counts(backbone, method, "linear", in_channels=1, num_classes=2, rank=rank, shape=80)
    assert counts.trainable - (0 if with_head else counts.head) == expected


@pytest.mark.parametrize(
    ("method", "head", "blocks", "trainable"),
    [
        ("full", "linear", (), 92_924_928 + 770),  # encoder + Linear(384→2)
        ("linear_probe", "conv_s", (), 1_770_242),
        ("linear_probe", "conv_l", (), 3_982_850),
        ("lora", "linear", (), 12 * 8 * (768 + 2304) + 770),  # r=8 on every block's qkv
        ("lora", "linear", (2, 5, 8, 11), 4 * 8 * (768 + 2304) + 770),  # the global-attention blocks only
    ],
)
def test_fifth_seed_sam_med3d(method: str, head: str, blocks: tuple[int, ...], trainable: int) -> None:
    counts = parameter_counts("sam-med3d", method, head, lora_blocks=blocks)  # 128³ by default
    assert counts.trainable == trainable
    assert counts.base - counts.head == 92_924_928


def test_cli_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "params",
        "--backbone",
        "vit-s",
        "--method",
        "lora",
        "--head",
        "linear",
        "--in-channels",
        "1",
        "--num-classes",
        "2",
        "--rank",
        "32",
    ]
    assert cli_main(argv) == 0
    lines = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    assert lines["trainable_params"] == "295682"
    assert lines["base_params"] == "12221570"


def test_cli_lora_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["params", "--backbone", "sam-med3d", "--method", "lora", "--head", "linear", "--lora-blocks", "2,5,8,11"]
    assert cli_main(argv) == 0
    lines = dict(line.split("\t") for line in capsys.readouterr().out.strip().splitlines())
    assert lines["adapter_params"] == "98304"
    assert lines["base_params"] == "92925698"
