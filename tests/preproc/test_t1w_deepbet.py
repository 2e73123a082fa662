"""deepbet's model files are loaded only when their SHA-256 matches the pinned digests."""

from __future__ import annotations

import hashlib

import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.preproc import t1w_deepbet


def test_installed_models_match_the_pinned_digests() -> None:
    for name, digest in t1w_deepbet.MODEL_DIGESTS.items():
        path = t1w_deepbet.verified_model_path(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_changed_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(t1w_deepbet.MODEL_DIGESTS, "model.pt", "0" * 64)
    with pytest.raises(NeuropeftError, match=r"model\.pt: SHA-256 .* is not the pinned 000000000000"):
        t1w_deepbet.verified_model_path("model.pt")


def test_a_missing_model_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(t1w_deepbet, "model_dir", lambda: tmp_path)
    with pytest.raises(NeuropeftError, match="deepbet model file unreadable"):
        t1w_deepbet.verified_model_path("bbox_model.pt")
