"""The server's side of a round: updates checked by name, shape and value, missing sites recorded,
too few updates refused, bytes counted, progress saved for a resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from neuropeft.errors import NeuropeftError
from neuropeft.federated.job import FederationJob
from neuropeft.federated.records import to_record
from neuropeft.federated.server import Progress, SiteStrategy, check_update, shapes
from neuropeft.learn.experiment import ExperimentSettings


class Reply:
    """What the strategy reads of a site's training reply."""

    def __init__(self, node: int, site: str, arrays: dict[str, np.ndarray], n_train: int) -> None:
        self.metadata = SimpleNamespace(src_node_id=node)
        metrics = {
            "num-examples": n_train,
            "train_loss": 0.5,
            "global_val_loss": 0.7,
            "global_val_metric": 0.6,
            "n_val": 4,
            "trainable_params": 6,
            "total_params": 100,
            "peak_memory_mb": 1.0,
        }
        self.content = {"site": {"site": site}, "arrays": to_record(arrays), "metrics": metrics}

    def has_error(self) -> bool:
        return False


def _strategy(strategy: str = "fedavg", min_clients: int = 2) -> SiteStrategy:
    federated = {"strategy": strategy, "rounds": 3, "min_clients": min_clients}
    settings = dataclasses.asdict(ExperimentSettings(name="fed", federated=federated))
    job = FederationJob(experiment=settings, fold=0, sites=["a", "b", "c"])
    server = SiteStrategy(job)
    server.global_arrays = {"w": np.zeros((2, 3), np.float32)}
    server._sampled = [1, 2, 3]
    return server


def _update(value: float) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 3), value, np.float32)}


def test_sound_updates_pass_and_bad_ones_are_named() -> None:
    reference = shapes(_update(0))
    assert check_update("a", _update(1), reference) == ""
    assert "site b" in check_update("b", {"w": np.zeros((3, 2), np.float32)}, reference)
    assert "non-finite" in check_update("c", _update(np.nan), reference)
    assert "differ" in check_update("d", {"v": np.zeros((2, 3), np.float32)}, reference)


def test_fedavg_round_weights_by_training_subjects_and_counts_bytes() -> None:
    server = _strategy()
    record = to_record(server.global_arrays)
    server._bytes_down = record.count_bytes() * 3
    arrays, _ = server.aggregate_train(1, [Reply(2, "b", _update(4), 30), Reply(1, "a", _update(1), 10)])
    # weights 10/40 and 30/40: 0.25 * 1 + 0.75 * 4 = 3.25
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 3.25))
    assert [(w["site"], w["weight"]) for w in server.weights] == [("a", 0.25), ("b", 0.75)]
    row = server.rounds[0]
    assert row["missing"] == "node 3" and row["clients"] == "a,b"
    assert row["bytes_up"] == 2 * record.count_bytes() and row["bytes_down"] == 3 * record.count_bytes()


def test_a_poisoned_update_is_rejected_and_the_round_goes_on() -> None:
    server = _strategy()
    replies = [Reply(1, "a", _update(1), 10), Reply(2, "b", _update(3), 10), Reply(3, "c", _update(np.inf), 10)]
    arrays, _ = server.aggregate_train(1, replies)
    np.testing.assert_allclose(arrays["w"].numpy(), np.full((2, 3), 2.0))
    assert server.rounds[0]["rejected"] == "c"


def test_too_few_usable_updates_stop_the_federation_naming_the_sites() -> None:
    server = _strategy(min_clients=2)
    with pytest.raises(NeuropeftError, match=r"fewer than min_clients 2 .*rejected: \['b'\]"):
        server.aggregate_train(1, [Reply(1, "a", _update(1), 10), Reply(2, "b", {"w": np.zeros(3, np.float32)}, 10)])


def test_validation_of_an_aggregate_comes_with_the_next_round(tmp_path: Path) -> None:
    server = _strategy()
    server.aggregate_train(1, [Reply(1, "a", _update(1), 10), Reply(2, "b", _update(2), 10)])
    assert np.isnan(server.history[0]["val_loss"])
    server.aggregate_train(2, [Reply(1, "a", _update(1), 10), Reply(2, "b", _update(2), 10)])
    assert server.history[0]["val_loss"] == pytest.approx(0.7) and server.history[0]["val_metric"] == pytest.approx(0.6)


def test_progress_round_trips_and_refuses_another_federation(tmp_path: Path) -> None:
    server = _strategy()
    server.aggregate_train(1, [Reply(1, "a", _update(1), 10), Reply(2, "b", _update(2), 10)])
    Progress(tmp_path, server.job).save(server, 1)
    resumed = _strategy()
    assert Progress(tmp_path, resumed.job).load(resumed) == 1
    np.testing.assert_array_equal(resumed.global_arrays["w"], server.global_arrays["w"])
    assert resumed.weights == server.weights and resumed.rounds == server.rounds
    other = _strategy(strategy="simple_avg")
    with pytest.raises(NeuropeftError, match="another federation"):
        Progress(tmp_path, other.job).load(other)
