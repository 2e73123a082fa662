"""The sites' Flower ClientApp: local training, scoring of other sites' updates, test predictions.

The same app runs in Flower's Simulation Engine (one simulated node per site, on this machine) and in
its Deployment Engine (one SuperNode per site, reading that site's own model input). The server's
messages carry the job (:class:`~neuropeft.federated.job.FederationJob`) in ``config["job"]``.
"""

from __future__ import annotations

from typing import Any

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from neuropeft.federated.job import FederationJob
from neuropeft.federated.records import from_record, to_record
from neuropeft.federated.site import Site
from neuropeft.learn.loop import peak_memory_mb
from neuropeft.learn.methods import count_parameters

app = ClientApp()
_SITES: dict[tuple[str, str], Site] = {}  # (job, node config) -> its site, kept across rounds (a simulated
# worker serves several sites in turn)


def _site(msg: Message, context: Context) -> Site:
    """This node's site for the message's job, built once per job."""
    text = str(msg.content["config"]["job"])
    key = (text, repr(sorted(context.node_config.items())))
    if key not in _SITES:
        for other in [k for k in _SITES if k[0] != text]:
            del _SITES[other]  # one job at a time: free the models of the last one
        _SITES[key] = Site(FederationJob.from_json(text).site_job(dict(context.node_config)))
    return _SITES[key]


def _reply(msg: Message, site: Site, records: dict[str, Any]) -> Message:
    """A reply naming the site, with ``records`` added."""
    named = ConfigRecord({"site": site.job.site, "classes": list(site.data.task.classes)})
    return Message(content=RecordDict({"site": named, **records}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Score the global parameters on the site's validation subjects (from round 2: those of round 1
    are the base model's), then train from them locally."""
    site = _site(msg, context)
    server_round = int(msg.content["config"]["server-round"])
    start = from_record(msg.content["arrays"])
    val_loss, val_metric = site.score(start) if server_round > 1 else (float("nan"), float("nan"))
    updated, train_loss = site.train(start, server_round)
    counts = count_parameters(site.model)
    metrics = MetricRecord(
        {
            "num-examples": site.n_train,
            "train_loss": train_loss,
            "global_val_loss": val_loss,
            "global_val_metric": val_metric,
            "n_val": len(site.data.datasets["val"]),
            "trainable_params": counts.trainable,
            "total_params": counts.total,
            "peak_memory_mb": peak_memory_mb(site.device),
        }
    )
    return _reply(msg, site, {"arrays": to_record(updated), "metrics": metrics})


@app.query()
def initial(msg: Message, context: Context) -> Message:
    """The base model's trainable parameters (the same at every site), the federation's starting point."""
    site = _site(msg, context)
    return _reply(msg, site, {"arrays": to_record(site.arrays())})


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """``mode`` cross: every update sent (``update-0`` …) scored on the site's validation subjects;
    ``mode`` test: validation scores and outputs (for the threshold) and test predictions (TSV text)
    of the final parameters."""
    site = _site(msg, context)
    config = msg.content["config"]
    if config["mode"] == "cross":
        scores = [site.score(from_record(msg.content[f"update-{j}"])) for j in range(int(config["n_updates"]))]
        metrics = {"loss": [s[0] for s in scores], "metric": [s[1] for s in scores]}
        return _reply(msg, site, {"metrics": MetricRecord({**metrics, "n_val": len(site.data.datasets["val"])})})
    final = from_record(msg.content["arrays"])
    val_loss, val_metric, probabilities, classes = site.validation(final)
    predictions = site.predictions(final).to_csv(sep="\t", index=False)
    metrics = {
        "val_loss": val_loss,
        "val_metric": val_metric,
        "val_probabilities": [float(p) for p in probabilities.ravel()],  # row by row, one per class
        "val_classes": [int(c) for c in classes],
    }
    return _reply(msg, site, {"metrics": MetricRecord(metrics), "predictions": ConfigRecord({"tsv": predictions})})
