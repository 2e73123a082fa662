"""Cross-modal adaptation without forgetting (the second seed's PEMMA): a model trained on modalities A
takes new modalities B through a stem of their own plus LoRA/DoRA on the body, A's path frozen.

The source fold's model (backbone and head, its own adapters merged) is frozen. Its input convolution
(the backbone's ``stem_key``) becomes :class:`AddedStem`: the frozen convolution on A's channels plus a
zero-initialised one of the same geometry on B's channels. LoRA/DoRA adapters (peft) go on the body's
usual targets; the adapters and the new stem are what trains. A subject whose B channels are all zero
(B absent) goes through the source model alone — adapters disabled, the new stem adding exact zeros — so
its prediction is the source model's: adapting cannot forget A, and a subject lacking B is predicted
from A alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import MethodType
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.methods import (
    PEFT_METHODS,
    WEIGHTS_FILE,
    is_peft_model,
    load_trainable_state,
    lora_target_modules,
)
from neuropeft.learn.modalities import experiment_modalities, input_positions
from neuropeft.learn.model import BackboneWithHead


class AddedStem(nn.Module):
    """``source(x[:, source_channels]) + new(x[:, new_channels])``: the frozen input convolution on the
    channels it was trained on, and a bias-free, zero-initialised one of the same geometry on the new."""

    def __init__(self, source: nn.Conv3d, source_channels: Sequence[int], new_channels: Sequence[int]) -> None:
        super().__init__()
        self.source = source
        self.new = nn.Conv3d(
            len(new_channels),
            source.out_channels,
            kernel_size=source.kernel_size,
            stride=source.stride,
            padding=source.padding,
            dilation=source.dilation,
            bias=False,
        )
        nn.init.zeros_(self.new.weight)
        self.source_channels = [int(c) for c in source_channels]
        self.new_channels = [int(c) for c in new_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output for the full input (B, C_A + C_B, X, Y, Z)."""
        return self.source(x[:, self.source_channels]) + self.new(x[:, self.new_channels])


class CrossModalModel(nn.Module):
    """The adapted model, routing each subject by whether its new modalities are present."""

    def __init__(self, adapted: nn.Module, new_channels: Sequence[int]) -> None:
        super().__init__()
        self.adapted = adapted
        self.new_channels = [int(c) for c in new_channels]

    def present(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) whether each subject has any non-zero voxel in the new modalities' channels."""
        return x[:, self.new_channels].flatten(1).abs().amax(dim=1) > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (B, K): adapted for subjects with the new modalities, the frozen source's for the rest."""
        present = self.present(x)
        if bool(present.all()):
            return self.adapted(x)
        with self.adapted.disable_adapter():
            source_out = self.adapted(x[~present])
        if not bool(present.any()):
            return source_out
        adapted_out = self.adapted(x[present])
        out = adapted_out.new_empty((len(x), adapted_out.shape[1]))
        out[present], out[~present] = adapted_out, source_out.to(adapted_out.dtype)
        return out

    def train(self, mode: bool = True) -> CrossModalModel:
        """Set train/eval mode; the frozen head and every frozen BatchNorm (the head's feature norm
        included) always run as in evaluation, so training never moves the source's statistics."""
        super().train(mode)
        if mode:
            self.adapted.get_base_model().head.eval()
            for module in self.adapted.modules():
                if isinstance(module, _BatchNorm) and not any(p.requires_grad for p in module.parameters()):
                    module.eval()
        return self


def _pointwise_delta_weight(layer: nn.Module, adapter: str) -> torch.Tensor:
    """LoRA's weight update of a 1×1×1 Conv3d, ``B @ A`` shaped as the kernel (peft 0.21 takes such a
    kernel for a 1×1 Conv2d's and fails to merge it: huggingface/peft#3768, fixed after 0.21.2)."""
    weight_a, weight_b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
    delta = weight_b.flatten(1) @ weight_a.flatten(1)
    return delta.view(*delta.shape, 1, 1, 1) * layer.scaling[adapter]


def plain_model(model: nn.Module) -> BackboneWithHead:
    """A fold model as one plain network: peft adapters merged into their weights."""
    if is_peft_model(model):
        from peft.tuners.lora import Conv3d as LoraConv3d

        for module in model.modules():
            if isinstance(module, LoraConv3d) and module.get_base_layer().kernel_size == (1, 1, 1):
                module.get_delta_weight = MethodType(_pointwise_delta_weight, module)
        model = model.merge_and_unload()
    if not isinstance(model, BackboneWithHead):
        raise NeuropeftError(f"cannot adapt a {type(model).__name__}; the source experiment must be a backbone + head")
    return model


def adapt_source(
    source: BackboneWithHead,
    settings: ExperimentSettings,
    source_channels: Sequence[int],
    new_channels: Sequence[int],
) -> CrossModalModel:
    """Freeze ``source``, give its stem the new channels and put ``settings.method`` (lora/dora) on its body."""
    if settings.method not in PEFT_METHODS:
        raise NeuropeftError(f"cross_modal adapts with lora or dora, not {settings.method!r}; set method: lora")
    from peft import LoraConfig, get_peft_model

    for param in source.parameters():
        param.requires_grad_(False)
    stem_name = "backbone.net." + source.backbone.stem_key.removesuffix(".weight")
    parent_name, _, attribute = stem_name.rpartition(".")
    parent = source.get_submodule(parent_name)
    stem = getattr(parent, attribute)
    if not isinstance(stem, nn.Conv3d):
        raise NeuropeftError(f"backbone {settings.backbone!r} has no input convolution to add channels to")
    setattr(parent, attribute, AddedStem(stem, source_channels, new_channels))
    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=lora_target_modules(source, settings),
        use_dora=settings.method == "dora",
    )
    adapted = get_peft_model(source, config)
    for param in adapted.get_submodule(f"base_model.model.{stem_name}.new").parameters():
        param.requires_grad_(True)
    return CrossModalModel(adapted, new_channels)


def source_channels_in(settings: ExperimentSettings, source: ExperimentSettings) -> tuple[list[int], list[int]]:
    """Positions, in this experiment's input, of the source's channels and of the new modalities' channels."""
    stack = settings.stack_modalities
    mine = experiment_modalities(stack, settings.modalities)
    theirs = experiment_modalities(stack, source.modalities)
    if not set(theirs) < set(mine):
        raise NeuropeftError(
            f"cross_modal experiment {settings.name!r} must take every modality of {source.name!r} ({theirs}) "
            f"and at least one more; it takes {mine}"
        )
    positions = input_positions(mine)
    old = [c for m in mine if m in theirs for c in positions[m]]
    new = [c for m in mine if m not in theirs for c in positions[m]]
    return old, new


def load_source(source_dir: Path, settings: ExperimentSettings) -> tuple[BackboneWithHead, dict[str, Any]]:
    """The source fold's model as a plain network on the CPU, and its run.json (checked against ``settings``)."""
    from neuropeft.learn.predict import load_fold_model, run_settings

    model, _, run = load_fold_model(source_dir, torch.device("cpu"))
    source = run_settings(run, source_dir / "run.json")
    if run.get("covariates"):
        raise NeuropeftError(f"{source_dir} was trained with covariates; cross_modal adapts models without them")
    if source.backbone != settings.backbone or source.head != settings.head:
        raise NeuropeftError(
            f"cross_modal experiment {settings.name!r} must use the backbone and head of {source.name!r} "
            f"({source.backbone}, {source.head})"
        )
    return plain_model(model), run


def cross_modal_model(source_dir: Path, settings: ExperimentSettings) -> tuple[CrossModalModel, dict[str, Any]]:
    """The model to train: the source fold's, frozen, adapted to this experiment's modalities; and the source's run.json."""
    from neuropeft.learn.predict import run_settings

    source, run = load_source(source_dir, settings)
    old, new = source_channels_in(settings, run_settings(run, source_dir / "run.json"))
    torch.manual_seed(settings.seed)
    return adapt_source(source, settings, old, new), run


def load_cross_modal(out_dir: Path, settings: ExperimentSettings, source_dir: Path) -> CrossModalModel:
    """A trained cross-modal fold rebuilt: its source adapted again, then the trained stem and adapters loaded."""
    model, _ = cross_modal_model(source_dir, settings)
    load_trainable_state(model, load_file(str(out_dir / WEIGHTS_FILE)))
    return model
