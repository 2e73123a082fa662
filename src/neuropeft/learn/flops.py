"""FLOPs of one training step and model FLOP utilisation (MFU) against a GPU's bf16 dense peak.

The FLOPs are those PyTorch's ``FlopCounterMode`` counts over one forward + backward pass: the
matrix products, convolutions and attention that actually run (a frozen backbone's weight gradients
are not computed, so they are not counted). Models are counted on the meta device: nothing is
allocated or computed, and attention is counted (on the CPU, PyTorch's fused attention kernel has
no FLOP formula and would count 0). Normalisations, activations and the optimiser are not counted,
as usual for MFU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

if TYPE_CHECKING:
    from neuropeft.learn.experiment import ExperimentSettings

#: (words that must all appear in the GPU's name, upper case) -> bf16 dense tensor-core peak, FLOP/s.
#: First match wins. NVL parts (H100 NVL, H200 NVL) run other clocks and are left unknown.
PEAK_BF16_DENSE: tuple[tuple[tuple[str, ...], float | None], ...] = (
    (("NVL",), None),
    (("H100", "PCIE"), 756e12),
    (("H100",), 989e12),  # SXM ("NVIDIA H100 80GB HBM3")
    (("H200",), 989e12),
    (("A100",), 312e12),
    (("L40S",), 362e12),
)


def peak_bf16_flops(gpu_name: str) -> float | None:
    """The bf16 dense peak (FLOP/s) of a GPU from its name (``torch.cuda.get_device_name()``); None if unknown."""
    name = gpu_name.upper()
    for words, peak in PEAK_BF16_DENSE:
        if all(word in name for word in words):
            return peak
    return None


def step_flops(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> int:
    """FLOPs of one forward + backward of ``loss_fn(model(x), target)`` (the model's mode is left as it is)."""
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x).float(), target).backward()
    return int(counter.get_total_flops())


def training_step_flops(
    settings: ExperimentSettings, in_channels: int, side: int, batch: int, out_features: int = 2
) -> int:
    """FLOPs of one training step (forward + backward) of an experiment's model on a cubic batch, counted on meta.

    The model is built as training builds it (backbone, head, method), in training mode.
    """
    from neuropeft.learn.fold_model import make_model

    with torch.device("meta"):
        model = make_model(settings, in_channels, (side,) * 3, out_features, "random")
        x = torch.zeros(batch, in_channels, side, side, side)
        target = torch.zeros(batch, dtype=torch.long)
    model.train()
    return step_flops(model, x, target)


def model_flop_utilisation(flops_per_step: float, seconds_per_step: float, peak: float | None) -> float | None:
    """Achieved FLOP/s over the peak (a fraction); None when the peak is unknown."""
    if peak is None or seconds_per_step <= 0:
        return None
    return flops_per_step / seconds_per_step / peak
