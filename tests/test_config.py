"""config/config.yaml validates against config/schema.yaml; wrong keys and values are named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config" / "schema.yaml")


@pytest.fixture()
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid(config: dict) -> None:
    validate(config, SCHEMA)


def test_unknown_top_level_key_is_named(config: dict) -> None:
    config["bids_directory"] = "/data"
    with pytest.raises(WorkflowError, match="bids_directory"):
        validate(config, SCHEMA)


def test_wrong_value_names_allowed_values(config: dict) -> None:
    config["on_invalid"] = "ignore"
    with pytest.raises(WorkflowError, match=r"'ignore' is not one of \['exclude', 'stop'\]"):
        validate(config, SCHEMA)


def test_unknown_modality_is_refused(config: dict) -> None:
    config["modalities"] = ["dwi", "flair"]
    with pytest.raises(WorkflowError, match="flair"):
        validate(config, SCHEMA)


def test_every_key_is_documented(config: dict) -> None:
    """Every setting (leaf key, and each key of an experiment entry) appears in backticks."""
    readme = (ROOT / "config" / "README.md").read_text()

    def keys(node: object, prefix: str = "") -> list[str]:
        if isinstance(node, dict):
            out = []
            for key, value in node.items():
                nested = isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict))
                if not nested or isinstance(value, list):
                    out.append(f"{prefix}{key}")
                out += keys(value, f"{prefix}{key}.")
            return out
        if isinstance(node, list) and node and isinstance(node[0], dict):
            return keys(node[0], f"{prefix[:-1]}[].")
        return []

    undocumented = [key for key in keys(copy.deepcopy(config)) if f"`{key}`" not in readme]
    assert not undocumented, f"config keys missing from config/README.md: {undocumented}"
