"""``neuropeft qc-image``: a PNG of three orthogonal slices for visual QC (matplotlib, Agg backend).

Images are shown in the closest RAS voxel order (left of the brain on the left of each panel,
neurological view) through the centre of the mask's (or the non-zero voxels') bounding box, with a
1-99 % intensity window. Optional layers: the brain-mask outline (red), the edges of a template
image resampled onto the image (yellow contours of its brain outline and grey/white boundary; ``--overlay-edges mni`` uses the built-in MNI152 template
at the image's voxel size),
and colour FA (``--rgb``: a 4D image whose last axis holds R, G, B in [0, 1]). A 4D image without ``--rgb``
shows its first volume/channel.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from neuropeft.atomic import atomic_path
from neuropeft.errors import NeuropeftError
from neuropeft.preproc.imageio import load_image, require_finite
from neuropeft.preproc.resample import resample_to_grid

#: --overlay-edges value meaning the built-in MNI152 template at 1 mm
BUILTIN_TEMPLATE = "mni"


def _reference(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """A 3D image on ``img``'s grid, for resampling layers onto it."""
    return nib.Nifti1Image(np.zeros(img.shape[:3], np.uint8), img.affine)


def edge_levels(template: np.ndarray) -> list[float]:
    """Contour levels drawing a template's edges: its brain outline and, inside, the mean brain intensity
    (for a T1w, close to the grey/white boundary)."""
    inside = template[template > 0]
    if inside.size == 0:
        return []
    outline = 0.1 * float(np.percentile(inside, 99))
    return sorted({outline, float(inside[inside > outline].mean())})


def slice_centre(data: np.ndarray, mask: np.ndarray | None) -> tuple[int, int, int]:
    """Voxel indices through the centre of the mask's (else the non-zero voxels') bounding box."""
    if mask is None or not mask.any():
        mask = np.abs(data).sum(axis=-1) > 0 if data.ndim == 4 else data != 0
    inside = np.argwhere(mask)
    if inside.size == 0:
        return tuple(s // 2 for s in data.shape[:3])  # type: ignore[return-value]
    return tuple(int(v) for v in np.round((inside.min(axis=0) + inside.max(axis=0)) / 2))  # type: ignore[return-value]


def _displayed_image(image: Path, rgb: bool) -> nib.Nifti1Image:
    """What a figure shows of ``image``: all of it when 3D or RGB, else only the first volume, read
    alone (a 4D DWI's later volumes are never decompressed)."""
    try:
        img = nib.load(str(image))
    except (OSError, ValueError, nib.filebasedimages.ImageFileError):
        img = None  # load_image names the file and the fix
    if rgb or img is None or len(img.shape) != 4:
        return load_image(image, "image")
    first = np.asarray(img.dataobj[..., 0], dtype=np.float32)
    require_finite(first, image, "image")
    return nib.Nifti1Image(first, img.affine)


def render(
    image: Path, out: Path, title: str, mask: Path | None = None, edges: str | None = None, rgb: bool = False
) -> None:
    """Draw the QC figure of ``image`` and save it atomically as PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = nib.as_closest_canonical(_displayed_image(image, rgb))
    data = np.asarray(img.dataobj, dtype=np.float32)
    if rgb:
        if data.ndim != 4 or data.shape[3] != 3:
            raise NeuropeftError(f"{image}: --rgb needs a 4D image with 3 volumes (R, G, B), got shape {data.shape}")
        data = np.clip(data, 0.0, 1.0)
    reference = _reference(img)
    mask_data = (
        resample_to_grid(nib.as_closest_canonical(load_image(mask, "mask", ndim=3)), reference, "nearest") > 0.5
        if mask
        else None
    )
    if edges:
        template = load_image(Path(edges), "template", ndim=3) if edges != BUILTIN_TEMPLATE else _mni(img)
        edge_data = resample_to_grid(template, reference, "continuous")
        levels = edge_levels(edge_data)
    centre = slice_centre(data, mask_data)
    zooms = img.header.get_zooms()[:3]
    if not rgb:
        values = data[data != 0] if (data != 0).any() else data.ravel()
        low, high = np.percentile(values, [1, 99])
    # no ticks and a fixed layout: tick and title bookkeeping (tight_layout) took half of a figure's time
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), facecolor="black", subplot_kw={"xticks": [], "yticks": []})
    for ax, axis, name in zip(axes, (0, 1, 2), ("sagittal", "coronal", "axial"), strict=False):
        take = [slice(None)] * 3
        take[axis] = centre[axis]
        plane = data[tuple(take)]
        shown = np.swapaxes(plane, 0, 1)
        dims = [d for d in range(3) if d != axis]
        aspect = zooms[dims[1]] / zooms[dims[0]]
        if rgb:
            ax.imshow(shown, origin="lower", aspect=aspect, interpolation="nearest")
        else:
            ax.imshow(shown, origin="lower", aspect=aspect, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        if mask_data is not None:
            ax.contour(mask_data[tuple(take)].T.astype(float), levels=[0.5], colors="red", linewidths=0.8)
        if edges and levels:
            ax.contour(edge_data[tuple(take)].T, levels=levels, colors="yellow", linewidths=0.6)
        ax.set_title(f"{name} {centre[axis]}", color="white", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, color="white")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.03)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, facecolor="black")
    plt.close(fig)


def _mni(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """The built-in template at the whole-mm resolution nearest the image's finest voxel size."""
    from neuropeft.preproc.template import template_t1w

    return template_t1w(max(1, int(round(min(img.header.get_zooms()[:3])))))
