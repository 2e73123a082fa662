"""``neuropeft <step> ...``: the command-line interface every workflow rule calls.

Each step lives in its own module exposing ``add_arguments(parser)`` and ``main(args)``; modules
are imported only when their step runs, so ``neuropeft --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from neuropeft.errors import NeuropeftError

#: step name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-cohort": ("neuropeft.demo.command", "synthesise the built-in demo BIDS cohort with ground truth"),
    "validate": ("neuropeft.bids.command", "index and validate a BIDS dataset; write the cohort table and excluded.tsv"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per step (arguments added lazily)."""
    parser = argparse.ArgumentParser(prog="neuropeft", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; a :class:`NeuropeftError` becomes a one-line message and exit status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help or the "invalid choice" error
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    step_parser = argparse.ArgumentParser(prog=f"neuropeft {argv[0]}", description=COMMANDS[argv[0]][1])
    module.add_arguments(step_parser)
    args = step_parser.parse_args(argv[1:])
    try:
        module.main(args)
    except NeuropeftError as error:
        print(f"neuropeft {argv[0]}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
