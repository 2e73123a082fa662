"""Fine-tuning methods: which parameters train, LoRA/DoRA via peft, and saving what was trained."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.model import BackboneWithHead

NORM_TYPES = (nn.LayerNorm, nn.GroupNorm, _BatchNorm, nn.modules.instancenorm._InstanceNorm)
PEFT_METHODS = ("lora", "dora")
#: method -> one-line description (all methods also train the head)
METHODS = {
    "lora": "LoRA adapters on the backbone's default targets (ResNet block convolutions / ViT qkv)",
    "dora": "DoRA (weight-decomposed LoRA) on the same targets",
    "attention": "only the ViT attention projections (qkv, proj)",
    "layernorm": "only the normalisation layers (LayerNorm in a ViT, BatchNorm in a ResNet)",
    "linear_probe": "frozen backbone, head only",
    "full": "every parameter, from the initial (pretrained) weights",
    "scratch": "every parameter, from random weights",
}
ADAPTER_DIR = "adapter"
WEIGHTS_FILE = "weights.safetensors"


def lora_target_modules(model: BackboneWithHead, settings: ExperimentSettings) -> str:
    """The regex of the modules LoRA/DoRA adapt: ``lora_targets``, else the backbone's default targets,
    narrowed to ``lora_blocks`` when given."""
    if settings.lora_targets and settings.lora_blocks:
        raise NeuropeftError("set lora_targets or lora_blocks, not both (lora_targets names the modules itself)")
    if settings.lora_blocks:
        return model.backbone.lora_targets_in_blocks(settings.lora_blocks)
    return settings.lora_targets or model.backbone.lora_targets


def apply_method(model: BackboneWithHead, settings: ExperimentSettings) -> nn.Module:
    """Freeze/adapt ``model`` for ``settings.method``; LoRA/DoRA return a peft model."""
    method = settings.method
    look_up_option(method, METHODS, "method")
    if method in PEFT_METHODS:
        from peft import LoraConfig, get_peft_model  # imported here: peft loads transformers (seconds of start-up)

        config = LoraConfig(
            r=settings.lora_rank,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=lora_target_modules(model, settings),
            use_dora=method == "dora",
            modules_to_save=["head"],
        )
        try:
            return get_peft_model(model, config)
        except ValueError as error:
            raise NeuropeftError(f"{method} targets do not fit backbone {settings.backbone!r}: {error}") from None
    if method == "attention" and not model.backbone.attention_params:
        raise NeuropeftError(f"method 'attention' needs a ViT backbone; {settings.backbone!r} has no attention")
    norm_params = {
        f"{name}.{p}" for name, m in model.named_modules() if isinstance(m, NORM_TYPES) for p, _ in m.named_parameters()
    }
    for name, param in model.named_parameters():
        if name.startswith("head.") or method in ("full", "scratch"):
            param.requires_grad_(True)
        elif method == "attention":
            param.requires_grad_(re.fullmatch(model.backbone.attention_params, name) is not None)
        elif method == "layernorm":
            param.requires_grad_(name in norm_params)
        else:
            param.requires_grad_(False)
    return model


@dataclass
class ParamCounts:
    """Parameter counts of a (possibly peft-wrapped) model."""

    trainable: int  # parameters updated by training (adapters + head, or the selected subset)
    total: int  # every parameter of the model, adapters included
    adapters: int  # LoRA/DoRA parameters
    head: int  # head parameters

    @property
    def base(self) -> int:
        """Backbone + head without adapters (the seeds' "full model")."""
        return self.total - self.adapters


def count_parameters(model: nn.Module) -> ParamCounts:
    """Count parameters once each (peft's frozen copy of a saved module is skipped)."""
    trainable = total = adapters = head = 0
    for name, param in model.named_parameters():
        if ".original_module." in name:
            continue
        n = param.numel()
        total += n
        trainable += n if param.requires_grad else 0
        adapters += n if "lora_" in name else 0
        head += n if re.search(r"(^|\.)head\.", name) else 0
    return ParamCounts(trainable, total, adapters, head)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters plus the buffers of modules that own one (running stats of trained
    BatchNorm) and of parameter-free BatchNorm layers (the head's feature norm learns only those)."""
    state: dict[str, torch.Tensor] = {}
    for module_name, module in model.named_modules():
        params = dict(module.named_parameters(recurse=False))
        learns_stats = isinstance(module, _BatchNorm) and not params
        if learns_stats or any(p.requires_grad for p in params.values()):
            for key, tensor in [*params.items(), *module.named_buffers(recurse=False)]:
                state[f"{module_name}.{key}" if module_name else key] = tensor.detach()
    return state


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a :func:`trainable_state` back, refusing keys the model lacks."""
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise NeuropeftError(f"saved state has keys the model lacks {unexpected[:5]}; the settings changed")


def is_peft_model(model: nn.Module) -> bool:
    """Whether ``model`` is a peft model (without importing peft when nothing has)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def save_weights(model: nn.Module, method: str, out_dir: Path) -> Path:
    """Save what was trained: peft adapters + head (``adapter/``), the full state dict (full, scratch)
    or the trained subset (other methods) as ``weights.safetensors``; atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_peft_model(model):
        final = out_dir / ADAPTER_DIR
        tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=out_dir))
        try:
            model.save_pretrained(str(tmp))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final
    state = model.state_dict() if method in ("full", "scratch") else trainable_state(model)
    final = out_dir / WEIGHTS_FILE
    fd, tmp_name = tempfile.mkstemp(prefix=".weights.", suffix=".safetensors", dir=out_dir)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, tmp_name)
        os.replace(tmp_name, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return final


def load_weights(model: BackboneWithHead, method: str, out_dir: Path) -> nn.Module:
    """Rebuild a trained model from :func:`save_weights` output on the same base (init) model."""
    if method in PEFT_METHODS:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(out_dir / ADAPTER_DIR))
    load_trainable_state(model, load_file(str(out_dir / WEIGHTS_FILE)))
    return model
