"""``neuropeft qc-table``: the cohort QC table; subjects outside the QC limits are flagged and left out.

Reads the per-subject JSONs of ``qc-metrics`` (``--metrics``, one per subject and modality) and
writes one row per subject and modality: participant_id, session (from the stem: ``sub-001_ses-1``
-> ``sub-001``, ``ses-1``), modality, the figures (brain_volume_ml, registration_nmi,
dice_template, coverage, and for DWI wm_mean_FA, wm_mean_MD, brain_median_MD), ``warnings``, then:

* ``flagged`` (0/1) and ``flag_reason``: the figures outside the configured absolute limits
  (``min_dice_template``, ``min_registration_nmi``, ``min_coverage``, and the brain volume divided
  by the coverage — the whole-brain estimate of a partial field of view — outside
  ``min_brain_ml`` .. ``max_brain_ml``);
* ``outlier`` (0/1) and ``outlier_reason``, for information: per modality, a figure whose robust
  z-score (x - median) / (1.4826 MAD) — or (x - median) / (1.2533 mean absolute deviation) when
  the MAD is 0 (Iglewicz & Hoaglin's fallback) — exceeds ``z_threshold`` (constant columns are
  not scored).

``--out-excluded`` lists the subjects left out of the model input (columns participant_id,
session, stem, step = ``qc``, reason): the flagged ones when ``on_flag`` is ``exclude``, none when
it is ``keep``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.choices import look_up_option
from neuropeft.errors import NeuropeftError
from neuropeft.failures import FAILURE_FIELDS

MAD_TO_SD = 1.4826
MEANAD_TO_SD = 1.2533
ON_FLAG = ("exclude", "keep")
#: figure columns, in table order (those a modality lacks are left out or empty)
FIGURES = (
    "brain_volume_ml",
    "registration_nmi",
    "dice_template",
    "coverage",
    "wm_mean_FA",
    "wm_mean_MD",
    "brain_median_MD",
)


@dataclasses.dataclass
class QCTableSettings:
    """Settings of ``qc-table`` (config section ``qc``)."""

    #: robust z-score (median/MAD) above which a figure is marked an outlier (information only)
    z_threshold: float = 3.5
    #: a subject whose warped brain mask overlaps the template brain (inside the field of view) less is flagged
    min_dice_template: float = 0.90
    #: a registration with a lower normalised mutual information with the template is flagged
    min_registration_nmi: float = 1.01
    #: a smaller share of the template brain inside the image's field of view is flagged
    min_coverage: float = 0.85
    #: plausible whole-brain volume (ml): brain_volume_ml / coverage outside [min_brain_ml, max_brain_ml] is flagged
    min_brain_ml: float = 900.0
    max_brain_ml: float = 2400.0
    #: exclude: flagged subjects are left out of the model input; keep: they stay in (still flagged)
    on_flag: str = "exclude"

    def __post_init__(self) -> None:
        look_up_option(self.on_flag, ON_FLAG, "qc on_flag")
        if self.min_brain_ml >= self.max_brain_ml:
            raise NeuropeftError(
                f"qc min_brain_ml ({self.min_brain_ml}) must be below max_brain_ml ({self.max_brain_ml})"
            )


def split_label(label: str) -> tuple[str, str]:
    """``sub-001_ses-1`` -> (``sub-001``, ``ses-1``); no session -> "n/a"."""
    head, _, session = label.partition("_ses-")
    return head, f"ses-{session}" if session else "n/a"


def read_metrics(path: Path) -> dict:
    """One ``qc-metrics`` JSON, refusing a missing or foreign file in one line."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise NeuropeftError(f"{path}: the QC metrics file does not exist; run `neuropeft qc-metrics` first") from None
    except ValueError as error:
        raise NeuropeftError(f"{path}: not valid JSON ({error}); re-run `neuropeft qc-metrics`") from None
    if not isinstance(record, dict) or not {"stem", "modality"} <= set(record):
        raise NeuropeftError(f"{path}: lacks stem/modality; pass the JSON written by `neuropeft qc-metrics`")
    return record


def flag_reasons(row: pd.Series, settings: QCTableSettings) -> list[str]:
    """Why a row is outside the QC limits (empty when it is not); missing figures are not judged."""
    reasons = []
    for column, limit in (
        ("dice_template", settings.min_dice_template),
        ("registration_nmi", settings.min_registration_nmi),
        ("coverage", settings.min_coverage),
    ):
        if pd.notna(row.get(column)) and row[column] < limit:
            reasons.append(f"{column} {row[column]:.3f} < {limit:g}")
    if pd.notna(row.get("brain_volume_ml")) and pd.notna(row.get("coverage")) and row["coverage"] > 0:
        whole = row["brain_volume_ml"] / row["coverage"]
        if not settings.min_brain_ml <= whole <= settings.max_brain_ml:
            reasons.append(
                f"brain volume {whole:.0f} ml (coverage-corrected) outside {settings.min_brain_ml:g}-{settings.max_brain_ml:g} ml"
            )
    return reasons


def robust_z(values: np.ndarray) -> np.ndarray | None:
    """Robust z-scores of ``values`` (NaN stays NaN); None when the spread is 0."""
    median = np.nanmedian(values)
    spread = MAD_TO_SD * np.nanmedian(np.abs(values - median)) or MEANAD_TO_SD * np.nanmean(np.abs(values - median))
    return None if not spread else (values - median) / spread


def outlier_reasons(table: pd.DataFrame, threshold: float) -> list[str]:
    """Per row, the figures whose robust z-score within the row's modality exceeds ``threshold``."""
    reasons: list[list[str]] = [[] for _ in range(len(table))]
    for _, group in table.groupby("modality", sort=False):
        for column in [c for c in FIGURES if c in group.columns]:
            values = group[column].to_numpy(dtype=float)
            if np.isnan(values).all():
                continue
            z = robust_z(values)
            for position, score in zip(group.index, z if z is not None else [], strict=False):
                if abs(score) > threshold:
                    reasons[position].append(f"{column} z={score:+.1f}")
    return ["; ".join(r) for r in reasons]


def build_table(records: list[dict], settings: QCTableSettings) -> pd.DataFrame:
    """The QC table (see the module docstring) from ``qc-metrics`` records."""
    rows = []
    for record in records:
        participant, session = split_label(record["stem"])
        row = {
            "participant_id": participant,
            "session": session,
            "stem": record["stem"],
            "modality": record["modality"],
        }
        row.update({name: record[name] for name in FIGURES if name in record})
        row["warnings"] = "; ".join(record.get("warnings", []))
        rows.append(row)
    table = pd.DataFrame(rows)
    figures = [c for c in FIGURES if c in table.columns]
    table = table[["participant_id", "session", "stem", "modality", *figures, "warnings"]]
    table[figures] = table[figures].astype(float)
    repeated = table[table.duplicated(["stem", "modality"])]
    if not repeated.empty:
        raise NeuropeftError(
            f"{repeated['stem'].iloc[0]} ({repeated['modality'].iloc[0]}): given twice in --metrics; pass one JSON per subject and modality"
        )
    flags = [flag_reasons(row, settings) for _, row in table.iterrows()]
    outliers = outlier_reasons(table, settings.z_threshold)
    return table.assign(
        flagged=[int(bool(r)) for r in flags],
        flag_reason=["; ".join(r) for r in flags],
        outlier=[int(bool(r)) for r in outliers],
        outlier_reason=outliers,
    )


def excluded_frame(table: pd.DataFrame, settings: QCTableSettings) -> pd.DataFrame:
    """The subjects the QC leaves out (one row per stem, reasons of all its modalities), as a failures table."""
    rows = []
    if settings.on_flag == "exclude":
        for stem, group in table[table["flagged"] == 1].groupby("stem", sort=False):
            reason = "; ".join(f"{m}: {r}" for m, r in zip(group["modality"], group["flag_reason"], strict=False))
            rows.append(
                {
                    **dict(zip(("participant_id", "session"), split_label(str(stem)), strict=False)),
                    "stem": stem,
                    "step": "qc",
                    "reason": reason,
                }
            )
    return pd.DataFrame(rows, columns=list(FAILURE_FIELDS))


def run(metrics: list[Path], out: Path, out_excluded: Path | None, settings: QCTableSettings) -> None:
    """Build the cohort QC table from the qc-metrics JSONs; write it (and the excluded rows)."""
    table = build_table([read_metrics(path) for path in metrics], settings)
    if out_excluded is not None:
        write_tsv(excluded_frame(table, settings), out_excluded)
    write_tsv(table, out)
