"""The steps package: one module per step, named after its rule; cheap to list; no argparse in the library."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neuropeft.cli import build_parser, step_help, steps

ROOT = Path(__file__).resolve().parents[2]
#: steps no rule runs: for users
USER_STEPS = {"convert-checkpoint", "params", "qc-image", "qc-metrics", "results-table", "segmentation-params"}
RULE = re.compile(r"^\s*rule (\w+):")
STEP_CALL = re.compile(r"python -m neuropeft(?: --failure-record \{params\.failure\})? ([a-z0-9-]+)")


def rule_steps() -> dict[str, str]:
    """Rule name -> the step its shell line runs, read from the rule files."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        rule = None
        for line in path.read_text().splitlines():
            if match := RULE.match(line):
                rule = match.group(1)
            elif rule and (call := STEP_CALL.search(line)):
                found[rule] = call.group(1)
                rule = None
    return found


@pytest.mark.parametrize("name", sorted(steps()))
def test_step_module_has_help_arguments_and_main(name: str) -> None:
    module = importlib.import_module(f"neuropeft.steps.{name.replace('-', '_')}")
    help_text = step_help(name.replace("-", "_"))
    assert help_text and "\n" not in module.__doc__.strip(), "a step's docstring is its one-line help"
    parser = argparse.ArgumentParser(prog=f"neuropeft {name}")
    module.add_arguments(parser)
    assert callable(module.main)


def test_each_rule_runs_the_step_named_after_it() -> None:
    calls = rule_steps()
    assert len(calls) > 25
    for rule, step in calls.items():
        stem = step.replace("-", "_")
        assert rule == stem or rule.startswith(f"{stem}_"), f"rule {rule} runs step {step}: name one after the other"
    assert set(steps()) == set(calls.values()) | USER_STEPS


def test_help_lists_every_step_without_importing_them() -> None:
    code = (
        "import sys\nfrom neuropeft.cli import build_parser\n"
        "text = build_parser().format_help()\n"
        "heavy = [m for m in ('numpy', 'pandas', 'torch', 'nibabel') if m in sys.modules]\n"
        "steps = [m for m in sys.modules if m.startswith('neuropeft.steps.')]\n"
        "print(heavy, steps)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] []"
    text = build_parser().format_help()
    assert all(name in text for name in steps())


def test_step_modules_import_no_heavy_library() -> None:
    code = (
        "import importlib, pkgutil, sys\nimport neuropeft.steps as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module(f'neuropeft.steps.{m.name}')\n"
        "print([m for m in ('numpy', 'pandas', 'torch', 'nibabel') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_argparse_only_in_the_steps_and_the_cli() -> None:
    package = ROOT / "src" / "neuropeft"
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "argparse" in path.read_text() and path.parent.name != "steps" and path.name != "cli.py"
    )
    assert users == []


#: libraries no step's ``--help`` may import (seconds each; a job pays them before its step starts)
HEAVY = ("ants", "torch", "deepbet", "matplotlib", "dipy", "nilearn", "sklearn", "statsmodels")
#: the array/table libraries, also kept out of ``--help`` except where a choice list comes from a module using them
ARRAYS = ("numpy", "nibabel", "pandas")
ARRAYS_ALLOWED = {
    "qc-image": "numpy, nibabel (neuropeft.preproc.qc)",
    "validate-cohort": "pandas (neuropeft.bids.index)",
}


def test_step_help_imports_no_heavy_library() -> None:
    # one fresh interpreter per step: a module one step imports would hide the same import by the next
    code = (
        "import contextlib, io, sys\nfrom neuropeft.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main([sys.argv[1], '--help'])\n"
        f"print(' '.join(m for m in {HEAVY + ARRAYS!r} if m in sys.modules))\n"
    )
    found = {}
    for step in steps():
        done = subprocess.run([sys.executable, "-c", code, step], capture_output=True, text=True, check=True)
        found[step] = done.stdout.split()
    heavy = {step: [m for m in modules if m in HEAVY] for step, modules in found.items()}
    assert not any(heavy.values()), f"--help imports {heavy}"
    arrays = {step: modules for step, modules in found.items() if modules}
    assert set(arrays) <= set(ARRAYS_ALLOWED), f"--help imports {arrays}"


def test_python_m_neuropeft_step_help_stays_light() -> None:
    # the path a workflow job takes: python -m neuropeft (runpy, neuropeft.__main__, the cli) and the step's parser
    code = (
        "import runpy, sys\nsys.argv = ['neuropeft', 'n4-dwi', '--help']\n"
        "try:\n    runpy.run_module('neuropeft', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY + ARRAYS!r} if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--bval" in done.stdout
    assert done.stderr.strip() == "[]"
