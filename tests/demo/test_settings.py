"""DemoSettings validation and the ``demo-cohort`` command's error handling."""

from __future__ import annotations

import pytest

from neuropeft.cli import main as cli_main
from neuropeft.demo.settings import DemoSettings
from neuropeft.errors import NeuropeftError
from neuropeft.settings import parse_settings


def test_defaults_and_tiny() -> None:
    default, tiny = DemoSettings(), DemoSettings.tiny()
    assert default.n_subjects == 32 and default.n_directions >= 20 and default.n_sites == 3
    assert tiny.n_subjects < default.n_subjects and tiny.n_directions >= 12
    assert DemoSettings.tiny(seed=3).seed == 3


@pytest.mark.parametrize(
    "values",
    [
        {"n_subjects": 0},
        {"n_directions": 5},
        {"dwi_voxel_mm": 0},
        {"age_min": 50, "age_max": 40},
        {"n_subjects": "many"},
        {"noise": 1},
        {"effect_radii_mm": [10, 10]},
        {"bias_strength": 1.5},
    ],
)
def test_bad_values_are_refused(values: dict) -> None:
    with pytest.raises(NeuropeftError, match="demo settings"):
        DemoSettings(**values)


def test_parse_settings_accepts_json_and_ints_for_floats() -> None:
    settings = parse_settings(DemoSettings, '{"n_subjects": 8, "dwi_voxel_mm": 3}')
    assert settings.n_subjects == 8 and settings.dwi_voxel_mm == 3


@pytest.mark.parametrize("text", ['{"n_directions": 2}', '{"no_such_setting": 1}', "not json"])
def test_cli_prints_one_line_error(tmp_path, capsys, text: str) -> None:
    status = cli_main(["demo-cohort", "--out", str(tmp_path / "demo"), "--settings", text])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("neuropeft demo-cohort: error:") and err.count("\n") == 1
    assert not (tmp_path / "demo").exists()
