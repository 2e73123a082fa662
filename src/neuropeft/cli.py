"""``neuropeft <step> ...``: the command-line interface every workflow rule calls.

Each step is a module of :mod:`neuropeft.steps` (step ``fit-tensor``: ``steps/fit_tensor.py``)
exposing ``add_arguments(parser)`` and ``main(args)``; the steps are found in that package, their
help read from each module's one-line docstring without importing it, and a module is imported
only when its step runs, so ``neuropeft --help`` stays fast.

``neuropeft --failure-record PATH <step> ...`` (used by the per-subject rules) also records a
one-line failure of the step in ``PATH`` and deletes that record once the step succeeds
(:mod:`neuropeft.failures`).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from neuropeft.errors import NeuropeftError
from neuropeft.failures import clear_failure_record, write_failure_record

STEPS_PACKAGE = "neuropeft.steps"


def steps() -> dict[str, str]:
    """Step name -> its module's name in :mod:`neuropeft.steps` (``fit-tensor`` -> ``fit_tensor``)."""
    package = importlib.import_module(STEPS_PACKAGE)
    return {
        info.name.replace("_", "-"): info.name
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name)
        if not info.name.startswith("_") and not info.ispkg
    }


def step_help(module: str) -> str:
    """First line of a step module's docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(f"{STEPS_PACKAGE}.{module}")
    source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def build_parser(names: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per step (arguments added lazily)."""
    parser = argparse.ArgumentParser(prog="neuropeft", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--failure-record", metavar="PATH", help="record a one-line failure of the step here (removed on success)"
    )
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, module in (steps() if names is None else names).items():
        help_text = step_help(module)
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; a :class:`NeuropeftError` becomes a one-line message and exit status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = steps()
    record = None
    if argv[:1] == ["--failure-record"] and len(argv) > 1:
        record, argv = argv[1], argv[2:]
    if not argv or argv[0] not in names:
        build_parser(names).parse_args(argv)  # prints help or the "invalid choice" error
        return 2
    # ITK (antspyx) uses every core unless told; follow the thread count Snakemake gives the job.
    if "OMP_NUM_THREADS" in os.environ:
        os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", os.environ["OMP_NUM_THREADS"])
    module = importlib.import_module(f"{STEPS_PACKAGE}.{names[argv[0]]}")
    step_parser = argparse.ArgumentParser(
        prog=f"neuropeft {argv[0]}", description=(module.__doc__ or "").strip().splitlines()[0]
    )
    module.add_arguments(step_parser)
    args = step_parser.parse_args(argv[1:])
    try:
        module.main(args)
    except NeuropeftError as error:
        print(f"neuropeft {argv[0]}: error: {error}", file=sys.stderr)
        if record:
            write_failure_record(record, argv[0], str(error), getattr(args, "settings", ""))
        return 1
    if record:
        clear_failure_record(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
