"""The steps of ``neuropeft <step>``: one module per step, each the command line of one workflow rule.

Naming: a step is named after the rule that runs it, ``_`` becoming ``-`` (rule ``fit_tensor`` runs
``neuropeft fit-tensor``, defined in ``steps/fit_tensor.py``). Where several rules run one step, each
rule is named ``<step>_<variant>`` (rules ``register_dwi`` and ``register_t1w`` run
``neuropeft register``; ``compare_experiments_external`` runs ``compare-experiments``). Steps that
no rule runs (``convert-checkpoint``, ``params``, ``qc-image``, ``qc-metrics``, ``results-table``,
``segmentation-params``) are for users.

Each step module has a one-line docstring (the step's help, read by :mod:`neuropeft.cli` without
importing the module), ``add_arguments(parser)`` and ``main(args)``, which makes one call into the
library. Library code is imported inside ``main`` (or ``add_arguments`` when a choice list comes
from it), so building a step's parser stays cheap. Modules whose name starts with ``_`` are not steps.
"""

from __future__ import annotations

import argparse


def add_settings_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--settings JSON``: the step's config section (missing keys keep their defaults)."""
    parser.add_argument("--settings", default="{}", help="JSON object of this step's settings (config section)")
