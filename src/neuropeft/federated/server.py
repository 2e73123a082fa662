"""The federation's server: rounds of local training at the sites, each update checked, weighted by the
experiment's strategy and aggregated, with a record of every round and a resume after an interruption.

:class:`SiteStrategy` is a Flower strategy: it keeps FedAvg's sampling of nodes and its messages
(``fraction_fit`` and ``min_clients`` of the config), and replaces the aggregation with
:mod:`neuropeft.federated.strategies` (simple_avg, fedavg, fedce, rate_my_lora), asking the sites to
score each other's updates first when the strategy needs it. A site whose reply is an error or never
comes is missing from that round; an update with other names, shapes or non-finite values is
rejected, naming the site; the round goes on when at least ``min_clients`` updates remain.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from neuropeft.atomic import atomic_path, write_json, write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.federated.job import FederationJob
from neuropeft.federated.records import from_record, record_bytes, to_record
from neuropeft.federated.site import Arrays
from neuropeft.federated.strategies import (
    CROSS_EVALUATED,
    ClientUpdate,
    CrossScores,
    StrategyState,
    aggregate,
    client_weights,
)
from neuropeft.learn.calibration import call, validation_threshold

#: the resumable state of a federation in its output folder (removed once the outputs are written)
PROGRESS = "federation_progress.json"
PROGRESS_ARRAYS = "federation_progress.npz"


def check_update(site: str, arrays: Arrays, reference: dict[str, tuple[int, ...]]) -> str:
    """Why ``site``'s update is refused ("" when it is sound): other names or shapes than
    ``reference``, or non-finite values."""
    if set(arrays) != set(reference):
        odd = sorted(set(arrays) ^ set(reference))[:3]
        return f"site {site}: update rejected, its parameters differ from the model's ({odd})"
    for name, value in arrays.items():
        if tuple(value.shape) != reference[name]:
            return f"site {site}: update rejected, {name} has shape {tuple(value.shape)}, expected {reference[name]}"
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            return f"site {site}: update rejected, {name} holds non-finite values"
    return ""


def shapes(arrays: Arrays) -> dict[str, tuple[int, ...]]:
    """Each array's shape by name."""
    return {k: tuple(v.shape) for k, v in arrays.items()}


def site_of(reply: Message) -> str:
    """The site a reply names."""
    return str(reply.content["site"]["site"])


class SiteStrategy(FedAvg):
    """FedAvg's sampling and messages with neuropeft's client weighting, checks and records."""

    def __init__(self, job: FederationJob, grid: Grid | None = None) -> None:
        federated = job.federated
        super().__init__(
            fraction_train=federated.fraction_fit,
            fraction_evaluate=0.0,
            min_train_nodes=federated.min_clients,
            min_available_nodes=federated.min_clients,
        )
        self.job = job
        self.settings = federated
        self.grid = grid  # for the cross-scoring messages
        self.global_arrays: Arrays = {}
        self.state = StrategyState()
        self.rounds: list[dict[str, Any]] = []  # one row per round: clients, missing, rejected, bytes, seconds
        self.weights: list[dict[str, Any]] = []  # one row per round and client: weight, training subjects
        self.history: list[dict[str, Any]] = []  # one row per round: training loss, validation of the aggregate
        self.sites: dict[str, dict[str, Any]] = {}  # site -> its last reply's metrics
        self._sampled: list[int] = []  # the nodes asked to train this round
        self._bytes_down = 0  # bytes of the global parameters sent to them
        self._nodes: dict[int, str] = {}

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's training messages; the sampled nodes are remembered to name the missing ones."""
        messages = list(super().configure_train(server_round, arrays, config, grid))
        self._sampled = [m.metadata.dst_node_id for m in messages]
        self._bytes_down = record_bytes(arrays) * len(messages)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Check the updates, weight them by the strategy (after cross-scoring when it needs it),
        average them and record the round."""
        replies = sorted(replies, key=lambda r: "" if r.has_error() else site_of(r))  # one order: one sum
        missing = {n: self._nodes.get(n, f"node {n}") for n in self._sampled}
        updates, nodes, rejected, bytes_up = [], [], [], 0
        reference = shapes(self.global_arrays)
        for reply in replies:
            node = reply.metadata.src_node_id
            if reply.has_error():
                print(f"round {server_round}: node {node} failed ({reply.error.reason})", file=sys.stderr)
                continue
            site = site_of(reply)
            self._nodes[node] = site
            missing.pop(node, None)
            bytes_up += record_bytes(reply.content["arrays"])
            arrays = from_record(reply.content["arrays"])
            why = check_update(site, arrays, reference)
            if why:
                print(f"round {server_round}: {why}", file=sys.stderr)
                rejected.append(site)
                continue
            metrics = dict(reply.content["metrics"])
            self.sites[site] = metrics
            updates.append(ClientUpdate(site, arrays, int(metrics["num-examples"])))
            nodes.append(node)
        cross, bytes_cross = None, 0
        if self.settings.strategy in CROSS_EVALUATED and len(updates) >= self.settings.min_clients:
            updates, nodes, cross, bytes_cross = self._cross_scores(server_round, updates, nodes)
        if len(updates) < self.settings.min_clients:
            raise NeuropeftError(
                f"round {server_round}: {len(updates)} usable update(s), fewer than min_clients "
                f"{self.settings.min_clients} (missing: {sorted(missing.values())}, rejected: {rejected}); "
                "check those sites' logs"
            )
        weights = client_weights(self.settings.strategy, updates, self.global_arrays, cross, self.state, server_round)
        self.global_arrays = {
            k: v.astype(self.global_arrays[k].dtype) for k, v in aggregate(updates, np.asarray(weights)).items()
        }
        self._record(server_round, updates, weights, sorted(missing.values()), rejected, bytes_up, bytes_cross)
        return to_record(self.global_arrays), None

    def _cross_scores(
        self, server_round: int, updates: list[ClientUpdate], nodes: list[int]
    ) -> tuple[list[ClientUpdate], list[int], CrossScores, int]:
        """Every update scored on every site's validation subjects; a site that does not answer is
        dropped with its update. Returns the updates kept, their nodes, the scores and the bytes sent."""
        assert self.grid is not None
        content = RecordDict(
            {
                **{f"update-{j}": to_record(u.arrays) for j, u in enumerate(updates)},
                "config": ConfigRecord(
                    {
                        "job": self.job.to_json(),
                        "mode": "cross",
                        "n_updates": len(updates),
                        "server-round": server_round,
                    }
                ),
            }
        )
        sent = sum(record_bytes(content[f"update-{j}"]) for j in range(len(updates))) * len(nodes)
        messages = [Message(content=content, message_type=MessageType.EVALUATE, dst_node_id=n) for n in nodes]
        rows = {
            r.metadata.src_node_id: dict(r.content["metrics"])
            for r in self.grid.send_and_receive(messages, timeout=self.settings.round_timeout_s)
            if not r.has_error()
        }
        keep = [j for j, n in enumerate(nodes) if n in rows]
        scores = CrossScores(
            loss=np.array([[rows[nodes[i]]["loss"][j] for j in keep] for i in keep], dtype=float),
            metric=np.array([[rows[nodes[i]]["metric"][j] for j in keep] for i in keep], dtype=float),
            n_val=np.array([rows[nodes[i]]["n_val"] for i in keep], dtype=float),
        )
        return [updates[j] for j in keep], [nodes[j] for j in keep], scores, sent

    def _record(
        self,
        server_round: int,
        updates: list[ClientUpdate],
        weights: np.ndarray,
        missing: list[str],
        rejected: list[str],
        bytes_up: int,
        bytes_cross: int,
    ) -> None:
        """The round's rows: per client weights, round totals, training loss; the previous round's
        aggregate gets the validation the sites reported for it."""
        for update, weight in zip(updates, weights, strict=True):
            self.weights.append(
                {"round": server_round, "site": update.client, "weight": float(weight), "n_train": update.n_train}
            )
        bytes_down = self._bytes_down + bytes_cross
        self.rounds.append(
            {
                "round": server_round,
                "clients": ",".join(u.client for u in updates),
                "missing": ",".join(missing),
                "rejected": ",".join(rejected),
                "bytes_down": bytes_down,
                "bytes_up": bytes_up,
                "bytes": bytes_down + bytes_up,
            }
        )
        sites = [self.sites[u.client] for u in updates]
        n = np.array([u.n_train for u in updates], dtype=float)
        train_loss = float(np.dot(n, [s["train_loss"] for s in sites]) / n.sum())
        self.history.append({"epoch": server_round, "train_loss": train_loss, "val_loss": np.nan, "val_metric": np.nan})
        if server_round > 1:
            self._set_validation(server_round - 1, sites)

    def _set_validation(self, server_round: int, sites: list[dict[str, Any]]) -> None:
        """The validation of round ``server_round``'s aggregate: the sites' scores weighted by their
        validation subjects (the metric over the sites where it is defined)."""
        n_val = np.array([s["n_val"] for s in sites], dtype=float)
        loss = np.array([s["global_val_loss"] for s in sites], dtype=float)
        metric = np.array([s["global_val_metric"] for s in sites], dtype=float)
        row = next(h for h in self.history if h["epoch"] == server_round)
        row["val_loss"] = float(np.dot(n_val, loss) / n_val.sum())
        ok = np.isfinite(metric)
        row["val_metric"] = float(np.dot(n_val[ok], metric[ok]) / n_val[ok].sum()) if ok.any() else np.nan


class Progress:
    """The federation's resumable state after its last completed round, in its output folder:
    the aggregate (``.npz``) and the records and strategy state (``.json``), each written atomically."""

    def __init__(self, out_dir: Path, job: FederationJob) -> None:
        self.json = out_dir / PROGRESS
        self.arrays = out_dir / PROGRESS_ARRAYS
        self.job = job

    def load(self, strategy: SiteStrategy) -> int:
        """Restore ``strategy`` from the saved state; the last completed round (0 when none)."""
        if not (self.json.exists() and self.arrays.exists()):
            return 0
        saved = json.loads(self.json.read_text())
        job = dataclasses.replace(self.job, device=saved["job"]["device"])
        if saved["job"] != dataclasses.asdict(job):
            raise NeuropeftError(f"{self.json} was written by another federation; delete it to restart")
        with np.load(self.arrays) as arrays:
            strategy.global_arrays = {k: arrays[k] for k in arrays.files}
        strategy.state = StrategyState.from_json(saved["state"])
        strategy.rounds, strategy.weights, strategy.history = saved["rounds"], saved["weights"], saved["history"]
        strategy.sites = saved["sites"]
        print(f"resuming after round {saved['round']} ({self.json})", file=sys.stderr)
        return int(saved["round"])

    def save(self, strategy: SiteStrategy, server_round: int) -> None:
        """Write the state after ``server_round`` (arrays first: the JSON names the round they belong to)."""
        with atomic_path(self.arrays) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **strategy.global_arrays)
        write_json(
            self.json,
            {
                "round": server_round,
                "job": dataclasses.asdict(self.job),
                "state": strategy.state.to_json(),
                "rounds": strategy.rounds,
                "weights": strategy.weights,
                "history": strategy.history,
                "sites": strategy.sites,
            },
        )

    def remove(self) -> None:
        """Delete the state once the outputs are written."""
        self.json.unlink(missing_ok=True)
        self.arrays.unlink(missing_ok=True)


def _nodes(grid: Grid, timeout: float) -> list[int]:
    """The connected nodes, waiting up to ``timeout`` seconds for a first one."""
    deadline = time.time() + timeout
    while not (nodes := sorted(grid.get_node_ids())):
        if time.time() > deadline:
            raise NeuropeftError(f"no site connected within {timeout:g} s; start the sites' SuperNodes")
        time.sleep(1)
    return nodes


def _ask(grid: Grid, nodes: list[int], content: RecordDict, kind: str, timeout: float) -> list[Message]:
    """Send ``content`` to ``nodes``; the replies that are not errors (an error is reported)."""
    messages = [Message(content=content, message_type=kind, dst_node_id=n) for n in nodes]
    replies = []
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            print(f"node {reply.metadata.src_node_id} failed ({reply.error.reason})", file=sys.stderr)
        else:
            replies.append(reply)
    return replies


def initial_arrays(grid: Grid, job: FederationJob, timeout: float) -> Arrays:
    """The base model's trainable parameters, asked of one site (every site builds the same)."""
    config = ConfigRecord({"job": job.to_json()})
    for node in _nodes(grid, timeout):
        replies = _ask(grid, [node], RecordDict({"config": config}), MessageType.QUERY, timeout)
        if replies:
            return from_record(replies[0].content["arrays"])
    raise NeuropeftError("no site could build the model; see the sites' logs")


def serve(grid: Grid, job: FederationJob, out_dir: Path) -> None:
    """Run the federation to its last round (resuming after the last completed one) and write its outputs."""
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = job.federated
    strategy = SiteStrategy(job, grid)
    progress = Progress(out_dir, job)
    done = progress.load(strategy)
    if not strategy.global_arrays:
        strategy.global_arrays = initial_arrays(grid, job, settings.round_timeout_s)
    config = ConfigRecord({"job": job.to_json()})
    for server_round in range(done + 1, settings.rounds + 1):
        tick = time.time()
        record = to_record(strategy.global_arrays)
        messages = strategy.configure_train(server_round, record, config, grid)
        strategy.aggregate_train(server_round, grid.send_and_receive(messages, timeout=settings.round_timeout_s))
        strategy.rounds[-1]["seconds"] = time.time() - tick
        print(f"round {server_round}/{settings.rounds}: {strategy.rounds[-1]}", file=sys.stderr)
        progress.save(strategy, server_round)
    write_outputs(grid, strategy, out_dir, started)
    progress.remove()


def _call_at_validation_threshold(
    predictions: pd.DataFrame, final: list[dict[str, Any]], classes: list[str]
) -> float | None:
    """The threshold fitted on every site's validation outputs together, as a centralized fold fits
    it on its own (:mod:`neuropeft.learn.calibration`), and the test subjects in ``predictions``
    called at it (in place); None where the argmax stays (more than two classes)."""
    probabilities = np.concatenate([np.reshape(m["val_probabilities"], (-1, len(classes))) for m in final])
    encoded = np.concatenate([np.asarray(m["val_classes"], dtype=int) for m in final])
    threshold = validation_threshold("classification", probabilities, encoded)
    test = predictions[[f"prob_{c}" for c in classes]].astype(float).to_numpy()
    predictions["y_pred"] = [classes[k] for k in call(test, threshold)]
    return threshold


def write_outputs(grid: Grid, strategy: SiteStrategy, out_dir: Path, started: float) -> None:
    """The final aggregate's test predictions at every site and the federation's records:
    predictions.tsv, history.tsv, run.json, rounds.tsv, client_weights.tsv, weights.safetensors."""
    from safetensors.numpy import save_file

    job, settings = strategy.job, strategy.settings
    content = RecordDict(
        {"arrays": to_record(strategy.global_arrays), "config": ConfigRecord({"job": job.to_json(), "mode": "test"})}
    )
    replies = _ask(
        grid, _nodes(grid, settings.round_timeout_s), content, MessageType.EVALUATE, settings.round_timeout_s
    )
    if not replies:
        raise NeuropeftError("no site answered for the test predictions; see the sites' logs")
    sites = sorted(replies, key=site_of)
    classes = {tuple(r.content["site"]["classes"]) for r in sites}
    if len(classes) > 1:
        raise NeuropeftError(f"the sites disagree on the classes {sorted(classes)}; check the target column at each")
    final = [dict(r.content["metrics"]) for r in sites]
    strategy._set_validation(
        strategy.history[-1]["epoch"],
        [
            {
                "n_val": strategy.sites[site_of(r)]["n_val"],
                "global_val_loss": m["val_loss"],
                "global_val_metric": m["val_metric"],
            }
            for r, m in zip(sites, final, strict=True)
        ],
    )
    predictions = pd.concat(
        [
            pd.read_csv(io.StringIO(str(r.content["predictions"]["tsv"])), sep="\t", dtype=str, keep_default_na=False)
            for r in sites
        ]
    )
    threshold = _call_at_validation_threshold(predictions, final, list(next(iter(classes))))
    counts = next(iter(strategy.sites.values()))
    rounds = pd.DataFrame(strategy.rounds)
    experiment = job.settings
    write_tsv(predictions, out_dir / "predictions.tsv")
    write_tsv(pd.DataFrame(strategy.history), out_dir / "history.tsv")
    write_tsv(rounds, out_dir / "rounds.tsv")
    write_tsv(pd.DataFrame(strategy.weights), out_dir / "client_weights.tsv")
    with atomic_path(out_dir / "weights.safetensors") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in strategy.global_arrays.items()}, str(tmp))
    from neuropeft.learn.loop import VERSIONED_PACKAGES
    from neuropeft.provenance import package_versions

    write_json(
        out_dir / "run.json",
        {
            "experiment": experiment.name,
            "fold": job.fold,
            "backbone": experiment.backbone,
            "method": experiment.method,
            "head": experiment.head,
            "task": "classification",
            "classes": list(next(iter(classes))),
            "trainable_params": int(counts["trainable_params"]),
            "total_params": int(counts["total_params"]),
            "wall_seconds": time.time() - started,
            "peak_memory_mb": max(float(s["peak_memory_mb"]) for s in strategy.sites.values()),
            "device": job.device,
            "versions": package_versions(*VERSIONED_PACKAGES, "flwr"),
            "seed": experiment.seed,
            "init": job.init if experiment.method != "scratch" else "random",
            "federated": dataclasses.asdict(settings),
            "sites": sorted(strategy.sites),
            "n_train": {site: int(m["num-examples"]) for site, m in sorted(strategy.sites.items())},
            "train_fraction": experiment.train_fraction,
            "threshold": threshold,
            "rounds_run": len(strategy.rounds),
            "bytes_per_round": float(rounds["bytes"].mean()),
            "bytes_total": int(rounds["bytes"].sum()),
            "settings": dataclasses.asdict(experiment),
        },
    )
