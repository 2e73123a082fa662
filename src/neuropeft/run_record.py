"""``neuropeft record-run --config JSON --out provenance.json``: the run's configuration and versions.

Written beside the results so a result can be traced to the exact settings (seeds included) and the
software that produced it; the workflow rewrites it whenever the configuration changes.
"""

from __future__ import annotations

import json
import os
import platform

from neuropeft.atomic import write_json
from neuropeft.errors import NeuropeftError
from neuropeft.provenance import package_versions, source_revision

#: the packages whose versions decide the results
PACKAGES = (
    "neuropeft",
    "snakemake",
    "torch",
    "monai",
    "peft",
    "antspyx",
    "dipy",
    "nibabel",
    "nilearn",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
)


def write_run_record(config_json: str, out: str) -> None:
    """Write the run's configuration (JSON text), package versions, platform, CPU count and source
    revision (git commit) to ``out``."""
    try:
        config = json.loads(config_json)
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"--config is not valid JSON ({error}); pass the configuration as a JSON object") from None
    if not isinstance(config, dict):
        raise NeuropeftError("--config must be a JSON object (the workflow configuration)")
    write_json(
        out,
        {
            "config": config,
            "versions": package_versions(*PACKAGES),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "source": source_revision(),
        },
    )
