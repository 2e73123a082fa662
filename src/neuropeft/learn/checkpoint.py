"""Loading foundation-model checkpoints safely and strictly.

Reads ``torch.save`` files with ``weights_only=True`` (pickled code is refused; only
``neuropeft convert-checkpoint`` unpickles a file, asked to and once its pinned SHA-256 matches) or
safetensors, unwraps ``{"trunk_state_dict": ...}`` / ``{"state_dict": ...}``, strips the FMCIB
prefixes, and loads strictly, naming every missing and unexpected key; a stem pretrained on another
number of input channels is adapted (:func:`adapt_input_channels`).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from neuropeft.errors import NeuropeftError

WRAPPER_KEYS = ("trunk_state_dict", "state_dict", "model_state_dict", "model")
PREFIXES = ("module.", "model.trunk.", "model.backbone.")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class PickledCheckpointError(NeuropeftError):
    """A ``torch.save`` file that weights-only loading refuses: it needs more than tensors and plain containers."""


def check_sha256(path: str | Path, sha256: str) -> None:
    """Refuse ``path`` unless its SHA-256 is ``sha256`` (the message gives both digests)."""
    actual = sha256_of(path)
    if actual.lower() != sha256.lower():
        raise NeuropeftError(f"checkpoint {path} has sha256 {actual}, expected {sha256}; re-download it")


def _refusal_reason(error: Exception) -> str:
    """The line of a weights-only refusal that names what was refused (e.g. the unsupported global)."""
    text = " ".join(str(error).split())
    found = re.search(r"\w*Unpickler error:.*", text)
    reason = found.group(0) if found else text
    return reason.split(". Please")[0].split(" Check the documentation")[0][:300]


def load_torch_file(path: str | Path, trusted: bool = False) -> object:
    """``torch.load`` on the CPU with ``weights_only=True``, or ``False`` when ``trusted`` (its digest checked)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as error:
        if trusted or "Unsupported operand" in str(error):  # the latter: bytes that are no pickle torch.save writes
            raise NeuropeftError(
                f"checkpoint {path} could not be unpickled ({_refusal_reason(error)}); is it a complete torch.save file?"
            ) from None
        raise PickledCheckpointError(
            f"checkpoint {path} holds pickled code, refused by weights_only loading ({_refusal_reason(error)}); "
            "unpickling it could run arbitrary code: re-save it as a plain state dict or safetensors, or, if you "
            "trust it, convert it with `neuropeft convert-checkpoint --allow-pickle --sha256 <its pinned SHA-256>`, "
            "which unpickles it only when its digest matches"
        ) from None
    except (ImportError, AttributeError) as error:  # a trusted file's pickled class that does not import here
        raise NeuropeftError(
            f"checkpoint {path} needs code that is not installed here to unpickle ({_detail(error)}); "
            "re-save its tensors as a plain state dict where that code is installed"
        ) from None
    except Exception as error:  # a truncated or foreign file
        raise NeuropeftError(
            f"checkpoint {path} could not be read by torch.load ({_detail(error)}); is it a torch.save file?"
        ) from None


def _detail(error: Exception) -> str:
    """``Type: message`` of an exception on one line, at most 300 characters of the message."""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def read_checkpoint(path: str | Path, sha256: str = "", allow_pickle: bool = False) -> tuple[object, bool]:
    """What a checkpoint file holds (a safetensors file's tensors or a ``torch.save`` object) and whether
    it was unpickled.

    ``torch.save`` files are read with ``weights_only=True``; ``allow_pickle`` (only together with the
    file's pinned ``sha256``) unpickles one that needs more, once its digest matches.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuropeftError(f"checkpoint {path} does not exist; download it or fix the path in the config")
    if allow_pickle and not sha256:
        raise NeuropeftError(f"checkpoint {path}: unpickling is allowed only with the file's pinned sha256; give it")
    if sha256:
        check_sha256(path, sha256)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path)), False
    try:
        return load_torch_file(path), False
    except PickledCheckpointError:
        if not allow_pickle:
            raise
    return load_torch_file(path, trusted=True), True


def unwrap_state_dict(raw: object, source: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint, unwrapped (``trunk_state_dict``, ``state_dict`` ...) and with
    known prefixes stripped."""
    for key in WRAPPER_KEYS:
        if isinstance(raw, dict) and key in raw and isinstance(raw[key], dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise NeuropeftError(f"checkpoint {source} is not a state dict of tensors; re-save it as one")
    return {strip_prefix(k): v for k, v in raw.items()}


def read_state_dict(path: str | Path, sha256: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, unwrapped and with known prefixes stripped."""
    return unwrap_state_dict(read_checkpoint(path, sha256)[0], path)


def strip_prefix(key: str) -> str:
    """A key without the first matching wrapper prefix."""
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def adapt_input_channels(state: dict[str, torch.Tensor], key: str, in_channels: int) -> dict[str, torch.Tensor]:
    """Fit a stem kernel pretrained on C' input channels to ``in_channels`` = C: sum it over its C'
    input channels, replicate the sum C times and divide by C.

    An image whose C channels all equal x then gives exactly the pretrained stem's response to x on
    all C' channels, so the pretrained statistics downstream still hold at initialisation. For C' = 1
    this is replicate-and-divide (FMCIB's 1-channel stem on FA+MD); a cross-modal checkpoint
    (pre-trained on T1w, fine-tuned on FA+MD, or any C' to C) goes through the same rule. Nothing maps
    individual pretrained channels to new ones, so only the channel-summed kernel carries over.
    """
    weight = state.get(key)
    if weight is None or weight.dim() < 3 or weight.shape[1] == in_channels:
        return state
    adapted = dict(state)
    summed = weight.sum(dim=1, keepdim=True)
    adapted[key] = summed.repeat(1, in_channels, *([1] * (weight.dim() - 2))) / in_channels
    return adapted


def key_listing(keys: list[str], shown: int = 12) -> str:
    """Keys as one line, the first ``shown`` of them and a count of the rest."""
    more = f" ... and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load every tensor of ``module`` from ``state``, refusing missing, unexpected or mis-shaped keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) {key_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) {key_listing(unexpected)}")
        if shapes:
            parts.append(
                "shape mismatch " + ", ".join(f"{k} {tuple(state[k].shape)}≠{tuple(own[k].shape)}" for k in shapes)
            )
        raise NeuropeftError(
            f"checkpoint {source} does not match the backbone: {'; '.join(parts)}; pick the matching backbone"
        )
    module.load_state_dict(state, strict=True)
