"""Brain mask of a whole-head T1w by deepbet (Fisch et al. 2024, MIT), called in-process.

deepbet's wheel ships its two TorchScript models (a 128³ bounding-box network, then a 256³
segmentation network on the crop); nothing is downloaded. The model files are checked against the
SHA-256 digests pinned here before TorchScript loads them, so a changed wheel cannot silently
change the masks. Only ``deepbet.bet`` is imported: its GUI (customtkinter) never is.

Measured on the 10 IXI heads of ``shared/data/real/ixi10`` against their DLMUSE reference masks:
Dice 0.977-0.984 at about 5 s per head on one CPU thread (benchmarks/bench_real_heads.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from neuropeft.errors import NeuropeftError

#: deepbet 1.0.2's model files and their SHA-256 digests
MODEL_DIGESTS = {
    "model.pt": "de8ee7c69654d0dd3935dc4a5d84571d8ecf4637a6bfc01df399c4c2bc86e0fd",
    "bbox_model.pt": "39a7b2b5f799faa1391ea97bfcdc0b9299f20d84f2316a4ff8918dc4685e40aa",
}


def model_dir() -> Path:
    """Where the installed deepbet wheel keeps its models (``<site-packages>/data/models``)."""
    from deepbet import utils

    return Path(utils.DATA_PATH) / "models"


def verified_model_path(name: str) -> Path:
    """The path of deepbet model ``name`` after checking its SHA-256 against the pinned digest."""
    path = model_dir() / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise NeuropeftError(
            f"{path}: deepbet model file unreadable ({error}); reinstall with `make install`"
        ) from None
    if digest != MODEL_DIGESTS[name]:
        raise NeuropeftError(
            f"{path}: SHA-256 {digest[:12]}... is not the pinned {MODEL_DIGESTS[name][:12]}...; install the deepbet version in requirements.lock"
        )
    return path


@functools.lru_cache(maxsize=1)
def _extractor(use_gpu: bool) -> Any:
    """deepbet's ``BrainExtraction`` with the verified models (loaded once per process)."""
    from deepbet.bet import BrainExtraction

    return BrainExtraction(
        no_gpu=not use_gpu,
        model_path=str(verified_model_path("model.pt")),
        bbox_model_path=str(verified_model_path("bbox_model.pt")),
    )


def deepbet_mask(img: nib.Nifti1Image, threshold: float, dilate: int, source: str | os.PathLike[str]) -> np.ndarray:
    """Boolean brain mask of a 3D T1w on its own grid (deepbet: largest component, holes filled)."""
    import torch

    try:
        _, mask_img, _ = _extractor(torch.cuda.is_available()).run(img, threshold=threshold, n_dilate=dilate)
    except AssertionError as error:  # deepbet asserts when it finds no head
        raise NeuropeftError(
            f"{source}: deepbet found no brain ({error}); check that the image is a whole-head T1w"
        ) from None
    return np.asarray(mask_img.dataobj) > 0
