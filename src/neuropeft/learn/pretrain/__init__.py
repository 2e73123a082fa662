"""Self-supervised pre-training of a backbone on every volume of the cohort stack.

``run``: the pre-training run on the shared loop (learn/loop.py) and its outputs; ``cnn``, ``mae``: the
strategies' models; ``data``: the augmented views; ``settings``: one run's settings and the strategies.
"""

from neuropeft.learn.pretrain.run import BACKBONE_FILE, build_pretrain_model, check_pairing, pretrain, save_backbone
from neuropeft.learn.pretrain.settings import STRATEGIES, PretrainSettings

__all__ = [
    "BACKBONE_FILE",
    "STRATEGIES",
    "PretrainSettings",
    "build_pretrain_model",
    "check_pairing",
    "pretrain",
    "save_backbone",
]
