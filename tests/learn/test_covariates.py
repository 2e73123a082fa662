"""Clinical covariates: their encoding (fitted on the training part), reading, and the head beside the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.covariates import CovariateEncoder, read_covariates
from neuropeft.learn.model import build_model


def test_numbers_are_standardised_and_text_one_hot_on_the_training_part() -> None:
    train = pd.DataFrame({"age": ["20", "40", "60"], "sex": ["F", "M", "F"], "site": ["a", "b", "c"]})
    encoder = CovariateEncoder.fit(train, ["age", "sex", "site"])
    assert [(c.name, c.kind) for c in encoder.covariates] == [
        ("age", "numeric"),
        ("sex", "categorical"),
        ("site", "categorical"),
    ]
    assert encoder.width == 1 + 2 + 3
    test = pd.DataFrame({"age": ["40", "80"], "sex": ["M", "F"], "site": ["b", "z"]})
    sd = np.std([20, 40, 60])
    np.testing.assert_allclose(
        encoder.transform(test),
        [[0.0, 0, 1, 0, 1, 0], [40 / sd, 1, 0, 0, 0, 0]],  # an unseen site: all zeros
        rtol=1e-6,
    )
    again = CovariateEncoder.from_json(encoder.to_json())
    np.testing.assert_array_equal(again.transform(test), encoder.transform(test))


def _participants(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reading_covariates_names_what_is_missing(tmp_path: Path) -> None:
    table = _participants(tmp_path / "participants.tsv", "participant_id\tage\tsex\nsub-1\t30\tF\nsub-2\tn/a\tM\n")
    frame = read_covariates(table, ["sex", "age"], ["sub-1"])
    assert frame.loc["sub-1"].tolist() == ["F", "30"]
    with pytest.raises(NeuropeftError, match="sub-2 has no value for covariate 'age'"):
        read_covariates(table, ["age"], ["sub-1", "sub-2"])
    with pytest.raises(NeuropeftError, match=r"no column\(s\) \['bmi'\]"):
        read_covariates(table, ["bmi"], ["sub-1"])
    with pytest.raises(NeuropeftError, match="sub-9 has no row"):
        read_covariates(table, ["sex"], ["sub-9"])


def test_the_head_takes_the_covariates_beside_the_pooled_features() -> None:
    model = build_model("vit-tiny", "linear", 1, (16, 16, 16), 2, n_covariates=3)
    volumes, covariates = torch.zeros(2, 1, 16, 16, 16), torch.tensor([[0.0, 0, 0], [5.0, 0, 0]])
    features = model.features((volumes, covariates))
    assert features.shape == (2, model.backbone.feature_dim + 3)
    outputs = model((volumes, covariates))
    assert outputs.shape == (2, 2) and not torch.equal(outputs[0], outputs[1])  # only the covariates differ
    with pytest.raises(NeuropeftError, match="takes no covariates"):
        build_model("vit-tiny", "conv", 1, (16, 16, 16), 2, n_covariates=3)
