"""Clinical covariates fed to the head beside the image features (an experiment's ``covariates``).

Named ``participants.tsv`` columns are read per subject (:func:`read_covariates`) and encoded with
what the fold's training part shows (:class:`CovariateEncoder`): a column whose every value is a
number is standardised (training mean and SD), any other is one-hot over the training part's levels
(a level the training part never saw encodes as all zeros). The encoding is stored in run.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuropeft.bids.participants import is_missing
from neuropeft.errors import NeuropeftError


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


@dataclass
class Covariate:
    """One column's encoding: ``numeric`` (standardised) or ``categorical`` (one-hot over ``levels``)."""

    name: str
    kind: str
    mean: float = 0.0
    std: float = 1.0
    levels: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Encoded columns: 1, or one per level."""
        return 1 if self.kind == "numeric" else len(self.levels)

    def encode(self, values: pd.Series) -> np.ndarray:
        """(N, width) float32."""
        if self.kind == "numeric":
            return ((values.astype(float).to_numpy() - self.mean) / self.std).astype(np.float32)[:, None]
        return (values.to_numpy()[:, None] == np.asarray(self.levels)[None, :]).astype(np.float32)


@dataclass
class CovariateEncoder:
    """The encoding of every covariate, fitted on one fold's training subjects."""

    covariates: list[Covariate]

    @classmethod
    def fit(cls, train: pd.DataFrame, names: Sequence[str]) -> CovariateEncoder:
        """Numeric columns standardised, the others one-hot, from the training rows ``train``."""
        fitted = []
        for name in names:
            values = train[name].astype(str)
            if all(_is_number(v) for v in values):
                numbers = values.astype(float)
                fitted.append(Covariate(name, "numeric", float(numbers.mean()), float(numbers.std(ddof=0)) or 1.0))
            else:
                fitted.append(Covariate(name, "categorical", levels=sorted(set(values))))
        return cls(fitted)

    @property
    def width(self) -> int:
        """Features the head gets beside the image's."""
        return sum(c.width for c in self.covariates)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """(N, width) float32 for the rows of ``frame``."""
        return np.concatenate([c.encode(frame[c.name].astype(str)) for c in self.covariates], axis=1)

    def to_json(self) -> list[dict[str, Any]]:
        """For run.json."""
        return [asdict(c) for c in self.covariates]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> CovariateEncoder:
        """From run.json's ``covariates``."""
        return cls([Covariate(**c) for c in data])


def read_covariates(path: Path, names: Sequence[str], subjects: Sequence[str]) -> pd.DataFrame:
    """The ``names`` columns of ``subjects`` from participants.tsv ``path`` (index: participant_id), as text;
    a missing file, column or value is an error naming it and the fix."""
    if not path.is_file():
        raise NeuropeftError(f"{path}: the covariates table does not exist; pass the dataset's participants.tsv")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    absent = [n for n in ["participant_id", *names] if n not in table.columns]
    if absent:
        raise NeuropeftError(f"{path} has no column(s) {absent} for the covariates; columns: {list(table.columns)}")
    table = table.drop_duplicates("participant_id").set_index("participant_id")[list(names)]
    for subject in subjects:
        if subject not in table.index:
            raise NeuropeftError(f"{subject} has no row in {path}; add it (with its covariates) or drop the subject")
        for name in names:
            if is_missing(str(table.at[subject, name])):
                raise NeuropeftError(
                    f"{subject} has no value for covariate {name!r} in {path}; fill it in or remove {name} from covariates"
                )
    return table.loc[list(subjects)]
