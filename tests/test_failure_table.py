"""``neuropeft failure-table``: the dropped subjects' table, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from neuropeft.cli import main as cli_main

FAILURE = {
    "participant_id": "sub-02",
    "session": "",
    "stem": "sub-02",
    "step": "skullstrip_dwi",
    "reason": "mask volume 9552 ml",
}


def test_table_lists_each_failure(tmp_path: Path) -> None:
    out = tmp_path / "failures.tsv"
    assert cli_main(["failure-table", "--failures", json.dumps([FAILURE]), "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)
    assert table.to_dict("records") == [FAILURE]
    assert cli_main(["failure-table", "--failures", "[]", "--out", str(out)]) == 0
    assert pd.read_csv(out, sep="\t").empty and "stem" in out.read_text()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("{", "not valid JSON"), ('{"a": 1}', "JSON list"), ('[{"stem": "sub-01"}]', "entry 1 lacks")],
)
def test_bad_failures_argument_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    assert cli_main(["failure-table", "--failures", text, "--out", str(tmp_path / "f.tsv")]) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not (tmp_path / "f.tsv").exists()
