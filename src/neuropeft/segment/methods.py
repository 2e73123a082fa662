"""Fine-tuning methods for segmentation: which parameters train, LoRA/DoRA via peft, and their counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.methods import count_parameters
from neuropeft.segment.models import SegmentationModel, build_segmentation_model

PEFT_METHODS = ("lora", "dora")
#: method -> one-line description
METHODS = {
    "lora": "LoRA on the encoder's attention (UNETR: q and v of every ViT block; Swin UNETR: qkv) and the output "
    "block (or the whole decoder: lora_train_decoder)",
    "dora": "DoRA (weight-decomposed LoRA) on the same projections, and the output block (or the decoder)",
    "decoder": "encoder frozen; the decoder (skip, up-sampling and output blocks) trained",
    "full": "every parameter, from the pre-trained weights when a checkpoint is given",
    "scratch": "every parameter, from random weights",
}


@dataclass(frozen=True)
class Adapters:
    """LoRA/DoRA settings; the defaults are the second seed's (PEMMA): rank 4, alpha 8, dropout 0.1.

    Besides the adapters, the output block trains and a pre-trained network's decoder is kept;
    ``train_decoder`` trains the whole decoder instead, for a start from an encoder-only checkpoint or
    from random weights, where the decoder has nothing worth keeping (LoRA alone then fails to learn).
    """

    rank: int = 4
    alpha: float = 8.0
    dropout: float = 0.1
    targets: str = ""  # full-name regex of the adapted modules; "" = the backbone's default
    train_decoder: bool = False


def apply_method(model: SegmentationModel, method: str, adapters: Adapters = Adapters()) -> nn.Module:
    """Freeze/adapt ``model`` for ``method``; LoRA/DoRA return a peft model whose adapters and output block
    (or decoder, see :class:`Adapters`) train and are saved with ``save_pretrained``."""
    look_up_option(method, METHODS, "segmentation method")
    if method in PEFT_METHODS:
        from peft import LoraConfig, get_peft_model  # imported here: peft loads transformers (seconds of start-up)

        config = LoraConfig(
            r=adapters.rank,
            lora_alpha=adapters.alpha,
            lora_dropout=adapters.dropout,
            target_modules=adapters.targets or model.lora_targets,
            use_dora=method == "dora",
            # peft matches these by plain name suffix: "out" alone would also hit every "...dropout"
            modules_to_save=[f"net.{name}" for name in (model.decoder() if adapters.train_decoder else [model.head])],
        )
        try:
            return get_peft_model(model, config)
        except ValueError as error:
            raise NeuropeftError(f"{method} targets do not fit {type(model).__name__}: {error}") from None
    for name, param in model.named_parameters():
        param.requires_grad_(method != "decoder" or not model.in_encoder(name))
    return model


@dataclass(frozen=True)
class MethodCounts:
    """Parameter counts of one method on one backbone."""

    method: str
    trainable: int  # parameters updated by training
    total: int  # every parameter, adapters included
    adapters: int  # LoRA/DoRA parameters

    @property
    def share(self) -> float:
        """Trainable parameters over those of the network without adapters (1.0 for full and scratch)."""
        return self.trainable / (self.total - self.adapters)


def method_counts(
    backbone: str,
    in_channels: int,
    out_channels: int,
    input_shape: Sequence[int],
    methods: Iterable[str] = METHODS,
    adapters: Adapters = Adapters(),
    **options: Any,
) -> list[MethodCounts]:
    """The counts of each method (models built on the CPU: MONAI's Swin UNETR cannot be built on the meta device)."""
    rows = []
    for method in methods:
        model = build_segmentation_model(backbone, in_channels, out_channels, input_shape, **options)
        counts = count_parameters(apply_method(model, method, adapters))
        rows.append(MethodCounts(method, counts.trainable, counts.total, counts.adapters))
    return rows


def format_method_counts(rows: Iterable[MethodCounts]) -> str:
    """The counts as a tab-separated table: method, trainable, total, adapters, trainable share (%)."""
    lines = ["method\ttrainable_params\ttotal_params\tadapter_params\ttrainable_percent"]
    lines += [f"{r.method}\t{r.trainable}\t{r.total}\t{r.adapters}\t{100 * r.share:.3f}" for r in rows]
    return "\n".join(lines)
