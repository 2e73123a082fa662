"""BIDS label validation."""

import pytest

from neuropeft.bids.ids import id_problem, is_valid_label


@pytest.mark.parametrize("label", ["01", "A1", "control7", "x"])
def test_valid_labels(label: str) -> None:
    assert is_valid_label(label)
    assert id_problem(f"sub-{label}", "sub") is None


@pytest.mark.parametrize("label", ["", "0_1", "a b", "../01", "a/b", "a-b", "a.b", "é1", "01\n"])
def test_invalid_labels(label: str) -> None:
    assert not is_valid_label(label)
    assert "letters and digits" in id_problem(f"sub-{label}", "sub")


def test_prefix_required() -> None:
    assert "must start with 'sub-'" in id_problem("01", "sub")
    assert "must start with 'ses-'" in id_problem("sub-01", "ses")
