"""An upstream foundation checkpoint turned into a safetensors file of one backbone's tensors.

The file is read as :func:`~neuropeft.learn.checkpoint.read_checkpoint` reads it (weights only; a
file that needs unpickling only with ``allow_pickle`` and its pinned SHA-256). The backbone's part is
taken out (SAM-Med3D: the ``image_encoder.*`` tensors of ``model_state_dict``; other backbones: a
plain or wrapped state dict), its keys and shapes are checked against the backbone built on the meta
device, and the tensors it has are written atomically as safetensors, which an experiment then loads
with ``init: OUT`` and ``checkpoint_sha256``. A stem pretrained on another number of input channels
is written as it is: loading adapts it (:func:`~neuropeft.learn.checkpoint.adapt_input_channels`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from neuropeft.atomic import atomic_path
from neuropeft.errors import NeuropeftError
from neuropeft.learn.checkpoint import key_listing, read_checkpoint, sha256_of, unwrap_state_dict
from neuropeft.learn.sam_med3d import encoder_state_dict

#: backbone -> (its tensors, the keys left out) of an upstream checkpoint in that model's own layout
EXTRACTORS: dict[str, Callable[[Mapping[str, object]], tuple[dict[str, torch.Tensor], list[str]]]] = {
    "sam-med3d": encoder_state_dict,
}
#: keys named in one line of the report or of an error
SHOWN = 5


@dataclasses.dataclass(frozen=True)
class Conversion:
    """What a conversion read, kept and left out."""

    source: Path
    backbone: str
    unpickled: bool
    #: the tensors written, under the backbone's names
    state: dict[str, torch.Tensor]
    #: keys of the checkpoint outside the backbone's part (e.g. SAM-Med3D's mask decoder)
    ignored: list[str]
    #: keys of the backbone's part that the backbone does not have (not written)
    unexpected: list[str]
    #: the stem's key, when it was pretrained on another number of input channels ("" if not)
    adapted_stem: str = ""


def extract_state_dict(backbone: str, raw: object, source: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The backbone's tensors of a loaded checkpoint and the keys left out."""
    if backbone not in EXTRACTORS:
        return unwrap_state_dict(raw, source), []
    if not isinstance(raw, Mapping):
        raise NeuropeftError(f"checkpoint {source} is not a dict; is it a {backbone} checkpoint?")
    try:
        return EXTRACTORS[backbone](raw)
    except NeuropeftError as error:
        raise NeuropeftError(f"{source}: {error}") from None


def reference_tensors(backbone: str, in_channels: int) -> tuple[dict[str, torch.Tensor], str]:
    """The backbone's state dict on the meta device (shapes only) at its default input, and its stem key."""
    from neuropeft.learn.backbones import build_backbone
    from neuropeft.learn.param_counts import DEFAULT_SHAPE

    side = DEFAULT_SHAPE.get(backbone, 64)
    with torch.device("meta"):
        built = build_backbone(backbone, in_channels, (side,) * 3)
    return dict(built.net.state_dict()), built.stem_key


def _fits(key: str, shape: torch.Size, own: torch.Size, stem_key: str) -> bool:
    """Same shape, or the stem with another input channel count (adapted when loaded)."""
    if shape == own:
        return True
    return key == stem_key and len(shape) == len(own) and shape[:1] + shape[2:] == own[:1] + own[2:]


def check_keys(
    state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], stem_key: str, source: Path, backbone: str
) -> list[str]:
    """The unexpected keys of ``state``; missing or mis-shaped keys are refused in one line."""
    missing = sorted(set(own) - set(state))
    mismatched = [
        f"{k} {tuple(state[k].shape)}≠{tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if not _fits(k, state[k].shape, own[k].shape, stem_key)
    ]
    if missing or mismatched:
        parts = [f"{len(missing)} missing key(s) {key_listing(missing, SHOWN)}"] if missing else []
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es) {key_listing(mismatched, SHOWN)}")
        raise NeuropeftError(
            f"checkpoint {source} does not fit backbone {backbone}: {'; '.join(parts)}; nothing written: "
            "pick the backbone it was trained for (--backbone, --in-channels)"
        )
    return sorted(set(state) - set(own))


def read_for_backbone(
    path: str | Path, backbone: str, in_channels: int = 1, sha256: str = "", allow_pickle: bool = False
) -> Conversion:
    """Read a checkpoint and check its backbone's part against ``backbone`` (see the module's docstring)."""
    own, stem_key = reference_tensors(backbone, in_channels)
    source = Path(path)
    raw, unpickled = read_checkpoint(source, sha256, allow_pickle)
    state, ignored = extract_state_dict(backbone, raw, source)
    unexpected = check_keys(state, own, stem_key, source, backbone)
    stem = stem_key if stem_key in state and state[stem_key].shape != own[stem_key].shape else ""
    kept = {k: v for k, v in state.items() if k in own}
    return Conversion(source, backbone, unpickled, kept, ignored, unexpected, stem)


def write_safetensors(conversion: Conversion, out: str | Path) -> str:
    """Write the kept tensors (CPU, contiguous, unshared) atomically to ``out``; their file's SHA-256."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in sorted(conversion.state.items())}
    metadata = {"format": "pt", "backbone": conversion.backbone, "source": conversion.source.name}
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return sha256_of(out)


def convert_checkpoint(
    path: str | Path,
    backbone: str,
    out: str | Path,
    in_channels: int = 1,
    sha256: str = "",
    allow_pickle: bool = False,
) -> tuple[Conversion, str]:
    """Convert ``path`` into ``out`` (``.safetensors``) for ``backbone``; the conversion and ``out``'s SHA-256."""
    out = Path(out)
    if out.suffix != ".safetensors":
        raise NeuropeftError(f"output {out} must end in .safetensors (an experiment's init reads it by that suffix)")
    if out.resolve() == Path(path).resolve():
        raise NeuropeftError(f"output {out} is the checkpoint itself; write the conversion elsewhere")
    conversion = read_for_backbone(path, backbone, in_channels, sha256, allow_pickle)
    return conversion, write_safetensors(conversion, out)


def format_report(conversion: Conversion, out: str | Path, digest: str) -> str:
    """The conversion as a few ``label  value`` lines (what ``neuropeft convert-checkpoint`` prints)."""
    values = sum(v.numel() for v in conversion.state.values())
    how = "unpickled: its sha256 matched the pin" if conversion.unpickled else "weights only"
    lines = [
        f"read        {conversion.source} ({how})",
        f"written     {len(conversion.state)} tensors, {values:,} values of {conversion.backbone} -> {out}",
        f"ignored     {len(conversion.ignored)} key(s) outside the backbone {key_listing(conversion.ignored, SHOWN)}",
        f"unexpected  {len(conversion.unexpected)} key(s), not written {key_listing(conversion.unexpected, SHOWN)}",
        "missing     0",
        "mismatched  0",
    ]
    if conversion.adapted_stem:
        shape = tuple(conversion.state[conversion.adapted_stem].shape)
        lines.append(f"stem        {conversion.adapted_stem} {shape} written as is; loading adapts its input channels")
    lines += [f"sha256      {digest}", f"use it as   init: {out}  checkpoint_sha256: {digest}"]
    return "\n".join(line.rstrip() for line in lines)
