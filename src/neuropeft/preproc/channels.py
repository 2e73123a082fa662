"""``neuropeft combine-channels``: stack the model-ready volumes of several modalities as channels.

Used when ``modalities`` lists both ``dwi`` (FA, MD) and ``t1w``: each modality is registered and
resampled on its own, then the volumes (same model grid) are concatenated along the channel axis.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image, save_image, sidecar_path


def combine_channels(volumes: list[Path]) -> tuple[nib.Nifti1Image, list[str]]:
    """Concatenate 3D/4D volumes on one grid along the last (channel) axis; return it and the channel names."""
    images = [load_image(path, "model-ready volume") for path in volumes]
    reference = images[0]
    for path, img in zip(volumes[1:], images[1:], strict=False):
        if img.shape[:3] != reference.shape[:3] or not np.allclose(img.affine, reference.affine, atol=1e-4):
            raise NeuropeftError(
                f"{path}: its grid {img.shape[:3]} differs from {volumes[0]} {reference.shape[:3]}; "
                "resample every modality with the same model grid settings"
            )
    data = [np.asarray(img.dataobj, dtype=np.float32) for img in images]
    stacked = np.concatenate([d if d.ndim == 4 else d[..., None] for d in data], axis=-1)
    return nib.Nifti1Image(stacked, reference.affine), [name for path in volumes for name in _channel_names(path)]


def _channel_names(path: Path) -> list[str]:
    """The channel names recorded in a volume's sidecar (by ``resample``), or its file name."""
    sidecar = sidecar_path(path)
    if sidecar.exists():
        return list(json.loads(sidecar.read_text()).get("channels", [path.name]))
    return [path.name]


def write_combined(volumes: list[Path], out: Path) -> None:
    """Combine the volumes as channels and write the image with a sidecar naming the channels."""
    image, channels = combine_channels(list(volumes))
    save_image(image, out, "combine-channels", {}, {"inputs": [str(v) for v in volumes], "channels": channels})
