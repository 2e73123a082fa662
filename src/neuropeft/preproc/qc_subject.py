"""``neuropeft qc-subject``: every QC figure of one subject and modality in one process.

Draws the figures of ``qc-image`` for each preprocessing step — the bias-corrected image (N4), the
brain-mask outline (skull stripping), the registered image under the template's edges
(registration) and, for DWI, colour FA (tensor fit) — so a subject costs one interpreter start,
not one per figure.
"""

from __future__ import annotations

from pathlib import Path

LABELS = {"dwi": "DWI b=0", "t1w": "T1w"}


def render_subject(
    subject: str,
    modality: str,
    corrected: Path,
    mask: Path,
    registered: Path,
    out_n4: Path,
    out_mask: Path,
    out_registration: Path,
    color_fa: Path | None = None,
    out_color_fa: Path | None = None,
) -> None:
    """Draw the subject's N4, mask, registration and (DWI) colour FA figures."""
    from neuropeft.preproc.qc import BUILTIN_TEMPLATE, render  # here: qc-subject --help reads LABELS only

    label = f"{subject} {LABELS[modality]}"
    render(corrected, out_n4, f"{label} after N4 bias-field correction")
    render(corrected, out_mask, f"{label} brain mask", mask=mask)
    render(registered, out_registration, f"{label} in MNI152 space, template edges", edges=BUILTIN_TEMPLATE)
    if color_fa is not None and out_color_fa is not None:
        render(color_fa, out_color_fa, f"{subject} colour FA", mask=mask, rgb=True)
