"""Settings of one experiment (one entry of the config's experiments), passed to ``neuropeft train``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: early-stopping criterion: metric (AUC / MAE, ties broken by loss) or loss (validation loss)
MONITORS = ("metric", "loss")


@dataclass
class ExperimentSettings:
    """One fine-tuning experiment; every field has the config default."""

    name: str = "experiment"  # experiment name (results/models/{name}/fold-{k}/)
    backbone: str = "resnet10"  # fmcib-resnet50, resnet10, resnet18, sam-med3d(-tiny), vit-b, vit-s or vit-tiny
    method: str = "lora"  # lora, dora, attention, layernorm, linear_probe, full or scratch
    head: str = "mlp"  # linear, mlp (features→head_hidden→classes); conv, conv_s, conv_l (on the feature map)
    head_hidden: int = 256  # hidden width of the mlp and conv heads (conv_s and conv_l have fixed widths)
    head_dropout: float = 0.0  # dropout before the last Linear of the mlp and conv heads
    head_norm: bool = (
        False  # standardise the backbone features (BatchNorm without affine, as MAE's linear probe) before the head
    )
    task: str = "auto"  # auto (from the target), classification, regression or survival
    lora_rank: int = 8  # LoRA/DoRA rank r
    lora_alpha: float = 16.0  # LoRA/DoRA scaling numerator (update scaled by alpha / r)
    lora_dropout: float = 0.0  # dropout on the LoRA/DoRA input
    lora_targets: str = (
        ""  # full-name regex of adapted modules; "" = backbone default (ResNet convs of layer1-4 / ViT qkv)
    )
    lora_blocks: list[int] = field(default_factory=list)  # LoRA/DoRA only in these ViT blocks; [] = all blocks
    epochs: int = 50  # maximum number of epochs
    batch_size: int = 4  # volumes per optimiser step
    lr: float = 1e-4  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_epochs: float = 2.0  # linear warm-up length (epochs) before the cosine decay to 0 at `epochs`
    patience: int = 10  # stop after this many epochs without improvement of the monitored validation value
    monitor: str = "metric"  # early-stopping criterion: metric (AUC / MAE, ties broken by loss) or loss
    grad_clip: float = 1.0  # maximum gradient L2 norm (0 = no clipping)
    class_weights: str = "none"  # none or balanced (inverse class frequency in the training part)
    augment_flip: bool = False  # random left-right flip (first spatial axis) with probability 0.5
    augment_rotate_deg: float = 0.0  # random rotation up to ± this many degrees about each axis
    augment_scale: float = 0.0  # random isotropic scaling by a factor in [1 - s, 1 + s]
    augment_intensity: float = 0.0  # random intensity scaling by a factor in [1 - i, 1 + i]
    seed: int = 0  # seed of initialisation, batch order, augmentation and dropout
    num_workers: int = 0  # DataLoader worker processes
    init: str = "random"  # random, or the path of a foundation checkpoint for the backbone
    checkpoint_sha256: str = ""  # optional SHA-256 the init checkpoint must have
    max_epochs_this_run: int = 0  # stop after this many epochs in this invocation, resumable (0 = no limit)
    train_fraction: float = 1.0  # seeded, class-stratified share of each fold's training subjects used (data-size ablation; val/test unchanged)
    cache_features: bool = False  # frozen backbone (linear_probe): its features once per fold (and of the flipped volumes under augment_flip), the head trained on them; as through the backbone up to float rounding
    checkpoint_seconds: float = 60.0  # write the resumable checkpoint at most this often (0 = after every epoch); a resume replays the epochs since the last one
    covariates: list[str] = field(
        default_factory=list
    )  # participants.tsv columns fed to the head beside the image features
    modalities: list[str] = field(
        default_factory=list
    )  # the workflow modalities this experiment's model takes (their channels of the stack); [] = all
    stack_modalities: list[str] = field(
        default_factory=list
    )  # the cohort stack's modalities in channel order: set by the workflow (its modalities), not by users
    cross_modal: dict[str, Any] = field(
        default_factory=dict
    )  # {from: EXPERIMENT}: start each fold from that experiment's fold, frozen, and add this one's new modalities (lora/dora)
    grid: str = ""  # the model grid (config model_grids) whose stack the workflow passes; "" = model_grid; recorded, not read by training
    federated: dict[str, Any] = field(
        default_factory=dict
    )  # {strategy, rounds, local_epochs, fraction_fit, min_clients, round_timeout_s}: train across sites on Flower (federated/); {} = centralized
