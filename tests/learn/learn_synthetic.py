"""Synthetic model inputs with a planted effect, shared by the learning tests (imported, not collected)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def make_synthetic(
    root: Path,
    n_subjects: int = 40,
    side: int = 32,
    channels: int = 1,
    sessions: int = 1,
    seed: int = 0,
    effect: float = 1.5,
) -> tuple[Path, Path]:
    """model_input.npy + .tsv: noise volumes, label-1 subjects carry a brighter central cube."""
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n_subjects)])
    rows, volumes = [], []
    c = slice(side // 4, 3 * side // 4)
    for i, label in enumerate(labels):
        for s in range(sessions):
            volume = rng.normal(0, 1, (channels, side, side, side)).astype(np.float32)
            if label:
                volume[:, c, c, c] += effect
            rows.append(
                (
                    len(volumes),
                    f"sub-{i + 1:03d}",
                    f"ses-{s + 1}" if sessions > 1 else "n/a",
                    int(label),
                    f"site{i % 3}",
                )
            )
            volumes.append(volume)
    array_path, index_path = root / "model_input.npy", root / "model_input.tsv"
    np.save(array_path, np.stack(volumes))
    pd.DataFrame(rows, columns=["row", "participant_id", "session", "target", "site"]).to_csv(
        index_path, sep="\t", index=False
    )
    return array_path, index_path
