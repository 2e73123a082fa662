"""``neuropeft combine-channels``: stack the model-ready volumes of several modalities as channels.

Used when ``modalities`` lists both ``dwi`` (FA, MD) and ``t1w``: each modality is registered and
resampled on its own, then the volumes (same model grid) are concatenated along the channel axis.

A subject lacking an optional modality (``--absent dwi:2``, with ``--modalities`` giving the channel
order) gets zeros for that modality's channels, at its place in that order, so every subject's
channels mean the same. The absent channels are named as ``resample`` names them
(``<prefix>_model-DTI_FA.nii.gz:fa`` ...; the prefix is the output's name before ``_space-``), and
the sidecar lists the absent modalities under ``absent`` (the cohort stack reads it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image, save_image, sidecar_path

#: the channel names resample gives each modality's volume, after the file prefix (the workflow's files)
ABSENT_CHANNEL_NAMES = {
    "dwi": ["model-DTI_FA.nii.gz:fa", "model-DTI_MD.nii.gz:md"],
    "t1w": ["desc-brain_T1w.nii.gz:zscore"],
}


def parse_absent(specs: Sequence[str]) -> dict[str, int]:
    """``["dwi:2"]`` -> ``{"dwi": 2}`` (modality: number of channels), refusing a bad entry in one line."""
    absent: dict[str, int] = {}
    for spec in specs:
        name, _, count = spec.partition(":")
        if not name or not count.isdigit() or int(count) < 1 or name in absent:
            raise NeuropeftError(
                f"--absent {spec!r} is not MODALITY:CHANNELS (e.g. dwi:2), once per modality; fix the option"
            )
        absent[name] = int(count)
    return absent


def absent_names(modality: str, count: int, prefix: str) -> list[str]:
    """The names of an absent modality's channels: resample's names when the count is the usual one."""
    known = ABSENT_CHANNEL_NAMES.get(modality, [])
    if len(known) == count:
        return [f"{prefix}_{name}" for name in known]
    return [f"{prefix}_{modality}-{index + 1}:absent" for index in range(count)]


def combine_channels(
    volumes: list[Path], modalities: Sequence[str] = (), absent: dict[str, int] | None = None, prefix: str = ""
) -> tuple[nib.Nifti1Image, list[str]]:
    """Concatenate 3D/4D volumes on one grid along the last (channel) axis; return it and the channel names.

    With ``absent`` (modality -> channels), ``volumes`` are those of the other ``modalities`` in
    order, and each absent modality's channels are zeros at its place in ``modalities``.
    """
    absent = absent or {}
    present = [m for m in modalities if m not in absent]
    if absent and (not set(absent) <= set(modalities) or len(present) != len(volumes)):
        raise NeuropeftError(
            f"--absent {sorted(absent)} with --modalities {list(modalities)} needs one volume per other modality "
            f"({present}), got {len(volumes)}; pass --modalities in channel order and every present volume"
        )
    images = [load_image(path, "model-ready volume") for path in volumes]
    reference = images[0]
    for path, img in zip(volumes[1:], images[1:], strict=False):
        if img.shape[:3] != reference.shape[:3] or not np.allclose(img.affine, reference.affine, atol=1e-4):
            raise NeuropeftError(
                f"{path}: its grid {img.shape[:3]} differs from {volumes[0]} {reference.shape[:3]}; "
                "resample every modality with the same model grid settings"
            )
    data = [np.asarray(img.dataobj, dtype=np.float32) for img in images]
    blocks = [d if d.ndim == 4 else d[..., None] for d in data]
    names = [_channel_names(path) for path in volumes]
    if absent:
        by_modality = dict(zip(present, zip(blocks, names, strict=True), strict=True))
        for modality, count in absent.items():
            zeros = np.zeros((*reference.shape[:3], count), dtype=np.float32)
            by_modality[modality] = (zeros, absent_names(modality, count, prefix))
        blocks = [by_modality[m][0] for m in modalities]
        names = [by_modality[m][1] for m in modalities]
    stacked = np.concatenate(blocks, axis=-1)
    return nib.Nifti1Image(stacked, reference.affine), [name for group in names for name in group]


def _channel_names(path: Path) -> list[str]:
    """The channel names recorded in a volume's sidecar (by ``resample``), or its file name."""
    sidecar = sidecar_path(path)
    if sidecar.exists():
        return list(json.loads(sidecar.read_text()).get("channels", [path.name]))
    return [path.name]


def file_prefix(out: Path) -> str:
    """The subject's file prefix of an output name: the part before ``_space-`` (else before the extension)."""
    name = out.name
    return name.split("_space-")[0] if "_space-" in name else name.split(".")[0]


def write_combined(
    volumes: list[Path], out: Path, modalities: Sequence[str] = (), absent: dict[str, int] | None = None
) -> None:
    """Combine the volumes as channels and write the image with a sidecar naming the channels (and the absent modalities)."""
    absent = absent or {}
    image, channels = combine_channels(list(volumes), modalities, absent, file_prefix(out))
    record = {"inputs": [str(v) for v in volumes], "channels": channels, "absent": list(absent)}
    save_image(image, out, "combine-channels", {}, record)
