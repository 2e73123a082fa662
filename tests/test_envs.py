"""envs/*.yaml (conda environments for --sdm conda) agree with pyproject.toml and requirements.lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Packages that run the workflow itself rather than a rule's code.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_requirements() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [Requirement(line) for line in data["project"]["dependencies"]]
    return {_canonical(r.name): r for r in reqs}


def _locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[_canonical(name)] = version.strip()
    torch = re.search(r"^TORCH := torch==(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert torch, "Makefile must pin torch as 'TORCH := torch==X'"
    pins["torch"] = torch.group(1)
    return pins


def _env_pins() -> dict[str, dict[str, str]]:
    envs = {}
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        pip = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
        envs[path.name] = {_canonical(Requirement(p).name): str(Requirement(p).specifier)[2:] for p in pip}
    return envs


ENVS = _env_pins()


def test_there_are_rule_environments() -> None:
    assert {"preproc.yaml", "learn.yaml", "report.yaml"} <= set(ENVS)


@pytest.mark.parametrize("env_name", sorted(ENVS))
def test_env_pins_match_the_lock_and_pyproject_ranges(env_name: str) -> None:
    locked, ranges = _locked_versions(), _pyproject_requirements()
    for name, version in ENVS[env_name].items():
        assert name in ranges, f"{env_name}: {name} is not a dependency in pyproject.toml"
        assert locked.get(name) == version, (
            f"{env_name}: {name}=={version} but requirements.lock has {locked.get(name)}"
        )
        assert ranges[name].specifier.contains(version), f"{env_name}: {name}=={version} outside {ranges[name]}"


def test_every_runtime_dependency_is_in_some_environment() -> None:
    covered = set().union(*ENVS.values())
    missing = set(_pyproject_requirements()) - covered - WORKFLOW_ONLY
    assert not missing, f"pyproject dependencies in no envs/*.yaml: {sorted(missing)}"


def test_rules_name_existing_environments() -> None:
    used = set()
    for rule_file in (ROOT / "workflow" / "rules").glob("*.smk"):
        used |= set(re.findall(r'conda:\s*\n\s*"([^"]+)"', rule_file.read_text()))
    assert used, "no rule declares a conda environment"
    for env in used:
        assert (ROOT / "workflow" / "rules" / env).resolve().exists(), f"{env} does not exist"
