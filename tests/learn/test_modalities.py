"""Which stack channels are which modality, and the input sets a multi-modal model is evaluated on."""

from __future__ import annotations

import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.learn.modalities import channel_indices, experiment_channels, input_label, input_positions, input_sets


def test_channels_follow_the_stack_order() -> None:
    assert channel_indices(["t1w", "dwi"], ["dwi"]) == [1, 2]
    assert channel_indices(["dwi", "t1w"], ["dwi"]) == [0, 1]
    assert channel_indices(["dwi", "t1w"], ["t1w", "dwi"]) == [0, 1, 2]
    with pytest.raises(NeuropeftError, match="not in the workflow's modalities"):
        channel_indices(["dwi"], ["t1w"])


def test_an_experiment_takes_its_channels_of_a_stack_of_known_width() -> None:
    assert experiment_channels(["t1w", "dwi"], ["t1w"], 3, "x.npy") == [0]
    assert experiment_channels(["t1w", "dwi"], [], 3, "x.npy") is None
    assert experiment_channels([], [], 5, "x.npy") is None
    with pytest.raises(NeuropeftError, match="x.npy has 2 channels"):
        experiment_channels(["t1w", "dwi"], ["t1w"], 2, "x.npy")
    with pytest.raises(NeuropeftError, match="need the stack's modalities"):
        experiment_channels([], ["t1w"], 3, "x.npy")


def test_input_sets_are_every_non_empty_combination() -> None:
    assert input_sets(["t1w", "dwi"]) == [("t1w",), ("dwi",), ("t1w", "dwi")]
    assert input_label(("t1w", "dwi")) == "t1w+dwi"


def test_input_positions_follow_the_models_modalities() -> None:
    assert input_positions(["t1w", "dwi"]) == {"t1w": [0], "dwi": [1, 2]}
    assert input_positions(["dwi"]) == {"dwi": [0, 1]}
