"""``neuropeft failure-table --failures JSON --out failures.tsv``: the subjects left out after a failed step.

The workflow passes the failure records that still apply (read at parse time) when
``on_subject_failure`` is ``drop``, and an empty list otherwise; the table lists each subject's
failed step and the one-line reason, for the stacking step (which leaves them out) and the report.
"""

from __future__ import annotations

import json

import pandas as pd

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.failures import FAILURE_FIELDS


def failure_frame(failures: object) -> pd.DataFrame:
    """One row per failed step; refuses anything but a list of complete records."""
    if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
        raise NeuropeftError("--failures must be a JSON list of objects")
    for number, failure in enumerate(failures, start=1):
        missing = [field for field in FAILURE_FIELDS if field not in failure]
        if missing:
            raise NeuropeftError(f"--failures entry {number} lacks {missing}; give {list(FAILURE_FIELDS)}")
    return pd.DataFrame(failures, columns=list(FAILURE_FIELDS))


def write_failure_table(failures_json: str, out: str) -> None:
    """Write the failures table from the JSON list the workflow passes."""
    try:
        failures = json.loads(failures_json)
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"--failures is not valid JSON ({error}); pass a JSON list") from None
    write_tsv(failure_frame(failures), out)
