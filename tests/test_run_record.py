"""provenance.json: the configuration, versions, platform, CPU count and the source's git commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.run_record import write_run_record

ROOT = Path(__file__).resolve().parents[1]


def test_the_record_names_the_commit_of_the_source_it_ran(tmp_path: Path) -> None:
    write_run_record('{"folds": {"seed": 3}}', str(tmp_path / "provenance.json"))
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["config"] == {"folds": {"seed": 3}} and record["cpus"] >= 1
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert record["source"]["commit"] == head.stdout.strip() and isinstance(record["source"]["dirty"], bool)


def test_a_configuration_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NeuropeftError, match="JSON object"):
        write_run_record("[1, 2]", str(tmp_path / "p.json"))
    assert not (tmp_path / "p.json").exists()
