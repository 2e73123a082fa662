"""``sam-med3d-tiny`` (SAM-Med3D's encoder code at CPU size) trained by ``neuropeft train`` on a planted effect.

Every head is trained with one method (``linear_probe``: the head alone must find the effect in the
random encoder's map) and every method with one head (``linear``), which covers each head and each
method without the cross product: a head's code does not depend on the method, nor a method's on
the head. Each run must reach a held-out AUC of at least 0.8 on the 16 test subjects (chance 0.5),
train what ``neuropeft params`` counts for it, and update what its method trains: the head alone
(``linear_probe``), every encoder tensor (``full``), or adapters in the chosen blocks only (LoRA, DoRA).
Cohort: 48 subjects of 32³ noise, label 1 with a brighter central 16³ cube (learn_synthetic.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import roc_auc_score

from neuropeft.cli import main as cli_main
from neuropeft.learn.backbones import build_backbone
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import base_model
from neuropeft.learn.folds import FoldSettings, make_folds, read_index
from neuropeft.learn.param_counts import parameter_counts
from tests.learn.learn_synthetic import make_synthetic

BACKBONE = "sam-med3d-tiny"
SIDE = 32
#: head_norm: the random encoder's pooled features vary little between subjects (see heads.build_head)
COMMON = {"backbone": BACKBONE, "epochs": 15, "lr": 3e-3, "warmup_epochs": 1, "patience": 15, "head_norm": True}
#: (head, method, lora_blocks): every head with linear_probe, every method with the linear head
CASES = [
    ("linear", "full", ()),
    ("linear", "linear_probe", ()),
    ("linear", "lora", ()),
    ("linear", "lora", (1, 3)),  # the tiny encoder's global-attention blocks
    ("linear", "dora", ()),
    ("conv_s", "linear_probe", ()),
    ("conv_l", "linear_probe", ()),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: these small models gain nothing from more, and a busy machine's cores make
    spinning threads several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """model_input.npy, model_input.tsv and folds.tsv (3 folds: 16 test subjects in fold 0)."""
    root = tmp_path_factory.mktemp("cohort")
    array, index = make_synthetic(root, n_subjects=48, side=SIDE, effect=1.5)
    folds = root / "folds.tsv"
    make_folds(read_index(index), FoldSettings(n_folds=3, val_fraction=0.25)).to_csv(folds, sep="\t", index=False)
    return array, index, folds


def _train(cohort: tuple[Path, Path, Path], out: Path, settings: dict[str, object]) -> int:
    array, index, folds = cohort
    paths = ["--array", str(array), "--index", str(index), "--folds", str(folds), "--out-dir", str(out)]
    return cli_main(["train", *paths, "--fold", "0", "--device", "cpu", "--settings", json.dumps(settings)])


def _check_what_trained(out: Path, method: str, blocks: tuple[int, ...], settings: ExperimentSettings) -> None:
    """The saved weights show the method's parameters moved, and only those."""
    if method in ("lora", "dora"):
        saved = load_file(out / "adapter" / "adapter_model.safetensors")
        lora_b = {k: v for k, v in saved.items() if k.endswith(".lora_B.weight")}
        adapted = {int(re.search(r"\.blocks\.(\d+)\.attn\.qkv\.", k).group(1)) for k in lora_b}  # type: ignore[union-attr]
        assert adapted == set(blocks or range(4))
        assert all(v.abs().sum() > 0 for v in lora_b.values())  # lora_B starts at zero
        assert sum(k.endswith(".lora_magnitude_vector") for k in saved) == (len(adapted) if method == "dora" else 0)
        return
    saved = load_file(out / "weights.safetensors")
    if method == "linear_probe":
        assert {k.split(".")[0] for k in saved} == {"head"}
        return
    initial = base_model(settings, 1, (SIDE,) * 3, 2, "random").state_dict()
    encoder = [k for k in initial if k.startswith("backbone.")]
    assert encoder and [k for k in encoder if torch.equal(saved[k], initial[k])] == []  # every tensor updated


def test_tiny_variant_is_the_same_encoder_scaled_down() -> None:
    with torch.device("meta"):
        net = build_backbone(BACKBONE, 1, (SIDE,) * 3).net
    assert sum(p.numel() for p in net.parameters()) == 170_816
    assert sum(p.numel() for p in net.neck.parameters()) == 29_312
    assert [block.window_size for block in net.blocks] == [2, 0, 2, 0]  # global attention in blocks 1 and 3
    assert type(net).__name__ == "ImageEncoderViT3D" and net.out_chans == 32


@pytest.mark.parametrize(("head", "method", "blocks"), CASES, ids=[f"{h}-{m}{list(b) or ''}" for h, m, b in CASES])
def test_tiny_sam_med3d_learns_a_planted_effect(
    cohort: tuple[Path, Path, Path], tmp_path: Path, head: str, method: str, blocks: tuple[int, ...]
) -> None:
    settings = {**COMMON, "head": head, "method": method, "lora_blocks": list(blocks)}
    out = tmp_path / "out"
    assert _train(cohort, out, settings) == 0
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert len(predictions) == 16 and set(predictions.y_true) == {0, 1}
    assert roc_auc_score(predictions.y_true, predictions.prob_1) >= 0.8
    run = json.loads((out / "run.json").read_text())
    counts = parameter_counts(BACKBONE, method, head, lora_blocks=blocks)
    assert (run["trainable_params"], run["total_params"]) == (counts.trainable, counts.total)
    _check_what_trained(out, method, blocks, ExperimentSettings(**run["settings"]))
