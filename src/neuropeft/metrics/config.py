"""Settings of the metric steps (config section ``metrics``) and the versions they record."""

from __future__ import annotations

from dataclasses import dataclass

from neuropeft.provenance import package_versions

#: packages whose versions summary.json records
VERSIONED_PACKAGES = ("neuropeft", "numpy", "pandas", "scikit-learn", "scipy", "matplotlib")


@dataclass
class MetricsSettings:
    """Settings shared by ``aggregate-experiment``, ``compare-experiments`` and ``plot-fractions``."""

    #: bootstrap resamples of the pooled out-of-fold predictions
    bootstrap: int = 1000
    #: seed of the bootstrap resampling
    seed: int = 0
    #: confidence level of the bootstrap percentile interval
    ci_level: float = 0.95
    #: decimals of metric values in the comparison tables
    decimals: int = 3
    #: metric plotted against the training fraction ("" = auc for classification, mae for regression)
    fraction_metric: str = ""


def tool_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_PACKAGES`."""
    return package_versions(*VERSIONED_PACKAGES)
