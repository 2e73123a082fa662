"""Validate a BIDS dataset: every problem reported (stderr, one line each), cohort and excluded tables written."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from neuropeft.atomic import write_tsv
from neuropeft.bids.index import load_cohort
from neuropeft.bids.problems import format_problems
from neuropeft.errors import NeuropeftError

STEP = "validate-cohort"


def validate_cohort(
    bids_dir: str,
    target: str,
    modalities: Sequence[str],
    out_cohort: str,
    out_excluded: str,
    *,
    site_column: str = "site",
    run_policy: str = "last",
    bids_filters: str = "{}",
    on_invalid: str = "exclude",
    cache_dir: str | None = None,
    event_column: str = "",
    covariates: Sequence[str] = (),
    optional_modalities: Sequence[str] = (),
) -> None:
    """Validate, report every problem, write both tables (``on_invalid``: exclude the rows or stop)."""
    cache = cache_dir or Path(out_cohort).parent / ".bids-index"
    cohort = load_cohort(
        bids_dir,
        cache,
        target,
        modalities,
        site_column,
        run_policy,
        filters_from_json(bids_filters),
        event_column,
        covariates,
        optional_modalities,
    )
    if cohort.problems:
        if on_invalid == "exclude":
            print(f"neuropeft {STEP}: {cohort.summary()} (reasons below and in {out_excluded})", file=sys.stderr)
        label = "error" if on_invalid == "stop" else "warning"
        for line in format_problems(cohort.problems).splitlines():
            print(f"neuropeft {STEP}: {label}: {line}", file=sys.stderr)
        if on_invalid == "stop":
            raise NeuropeftError(
                f"{len(cohort.problems)} problem(s) in {bids_dir} (listed above); fix them or use --on-invalid exclude"
            )
    if cohort.rows.empty:
        raise NeuropeftError(
            f"no usable (subject, session) in {bids_dir}: {cohort.summary()} (reasons above); fix the dataset"
        )
    write_tsv(cohort.rows, out_cohort)
    write_tsv(cohort.excluded, out_excluded)
    print(
        f"neuropeft {STEP}: {len(cohort.rows)} row(s) kept, {len(cohort.excluded)} excluded; "
        f"target {target!r} looks {cohort.target_kind}",
        file=sys.stderr,
    )


def filters_from_json(text: str) -> dict[str, object]:
    """``--bids-filters`` as a mapping (its content is checked by ``load_cohort``)."""
    try:
        filters = json.loads(text)
    except ValueError as error:
        raise NeuropeftError(
            f'--bids-filters {text!r} is not JSON ({error}); pass e.g. \'{{"dwi": {{"acq": "b1000"}}}}\''
        ) from None
    if not isinstance(filters, dict):
        raise NeuropeftError(f"--bids-filters {text!r} must be a JSON object of modality -> {{entity: value}}")
    return filters
