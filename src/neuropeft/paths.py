"""Where the workflow's per-subject files go: one BIDS-style path builder and the template space.

The rules build every per-subject derivative path with :func:`bids_path` and name their logs and
benchmarks with :func:`subject_log` / :func:`subject_benchmark`, so a file name is typed once.
Paths are Snakemake patterns: ``{root}`` (the dataset's results folder), ``{subject_dir}``
(``sub-01`` or ``sub-01/ses-1``) and ``{file_prefix}`` (``sub-01`` or ``sub-01_ses-1``) stay
wildcards. Kept free of heavy imports: the Snakefile imports it at parse time.
"""

from __future__ import annotations

#: the template every subject is registered to (nilearn's MNI152 2009a, its TemplateFlow name)
TEMPLATE_SPACE = "MNI152NLin2009aSym"


def bids_path(area: str, datatype: str, suffix: str, extension: str = ".nii.gz", **entities: str) -> str:
    """``{root}/<area>/{subject_dir}[/<datatype>]/{file_prefix}_<key>-<value>..._<suffix><extension>``.

    Entities keep the order given (BIDS order is the caller's job); a trailing underscore in a
    name is dropped so Python keywords can be used (``from_="T1w"`` gives ``from-T1w``).
    """
    folder = f"{{root}}/{area}/{{subject_dir}}" + (f"/{datatype}" if datatype else "")
    parts = ["{file_prefix}", *(f"{name.rstrip('_')}-{value}" for name, value in entities.items()), suffix]
    return f"{folder}/{'_'.join(parts)}{extension}"


def subject_log(step: str, tail: str = "") -> str:
    """The log of one per-subject job of ``step`` (its rule's name; ``tail``: more wildcards, e.g. ``_{modality}``)."""
    return f"{{root}}/logs/{step}/{{subject_dir}}/{{file_prefix}}{tail}.log"


def subject_benchmark(step: str, tail: str = "") -> str:
    """The Snakemake benchmark file of one per-subject job of ``step`` (as :func:`subject_log`)."""
    return f"{{root}}/benchmarks/{step}/{{subject_dir}}/{{file_prefix}}{tail}.tsv"


def failure_record(step: str) -> str:
    """Where a per-subject job of ``step`` records a failure on the subject's data (``--failure-record``)."""
    return f"{{root}}/failures/{{file_prefix}}/{step}.json"
