"""One site's part of a federation, without Flower: its subjects of the fold, its copy of the model,
local training from the global trainable parameters, and scoring of parameters on its own data.

Every site builds the same base model (same backbone, init checkpoint and seed), so only the
trainable parameters (:func:`neuropeft.learn.methods.trainable_state`: adapters + head for LoRA, the
head for a linear probe, everything for full fine-tuning) travel. Each round starts a fresh AdamW
(optimiser state stays local and is not carried over rounds) whose rate follows one warm-up + cosine
schedule over all rounds' local steps, as a centralized run's would over its epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import make_model, predict, predictions_frame, to_device, uses_channels_last
from neuropeft.learn.loop import autocast, cosine_schedule, epoch_loader, optimiser_step, seed_everything, select_device
from neuropeft.learn.methods import load_trainable_state, trainable_state
from neuropeft.learn.train import load_fold_data

#: NumPy arrays by parameter name: what travels between the sites and the server
Arrays = dict[str, np.ndarray]


@dataclass
class SiteJob:
    """What a site trains: its name, its model input and folds, the fold and the experiment."""

    site: str
    array: Path
    index: Path
    folds: Path
    fold: int
    settings: ExperimentSettings
    rounds: int  # the federation's rounds (for the learning-rate schedule)
    local_epochs: int
    init: str = "random"  # the backbone's init checkpoint (the same file at every site)
    device: str = "auto"


class Site:
    """A site's data and model for one federated experiment and fold."""

    def __init__(self, job: SiteJob) -> None:
        self.job = job
        self.device = select_device(job.device)
        seed_everything(job.settings.seed, self.device)
        self.data = load_fold_data(job.array, job.index, job.folds, job.fold, job.settings, site=job.site)
        if self.data.task.kind != "classification":
            raise NeuropeftError(
                f"site {job.site}: federated experiments take classification targets (the sites would "
                "standardise a regression target each its own way); run this one centralized"
            )
        self.model = make_model(
            job.settings, self.data.in_channels, self.data.shape, self.data.task.out_features, job.init
        ).to(self.device)
        self.channels_last = uses_channels_last(job.settings.backbone, self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)

    @property
    def n_train(self) -> int:
        """Training subjects at this site."""
        return len(self.data.datasets["train"])

    def arrays(self) -> Arrays:
        """The model's trainable parameters (and trained norm statistics) as NumPy arrays."""
        return {k: v.detach().cpu().numpy().copy() for k, v in trainable_state(self.model).items()}

    def load(self, arrays: Arrays) -> None:
        """Set the trainable parameters from ``arrays`` (a global model or another site's update)."""
        expected = trainable_state(self.model)
        if set(arrays) != set(expected):
            raise NeuropeftError(f"site {self.job.site}: the parameters received do not match this model's")
        load_trainable_state(self.model, {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})

    def train(self, arrays: Arrays, server_round: int) -> tuple[Arrays, float]:
        """``local_epochs`` epochs from ``arrays`` in round ``server_round`` (1-based); the updated
        parameters and the mean training loss."""
        self.load(arrays)
        settings, task = self.job.settings, self.data.task
        train = self.data.datasets["train"]
        steps = len(epoch_loader(train, settings.batch_size, 0, settings.seed, 0))
        first_epoch = (server_round - 1) * self.job.local_epochs
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
        total_steps = self.job.rounds * self.job.local_epochs * steps
        scheduler = cosine_schedule(optimizer, round(settings.warmup_epochs * steps), total_steps, first_epoch * steps)
        self.model.train()
        total, count = 0.0, 0
        for epoch in range(first_epoch, first_epoch + self.job.local_epochs):
            train.epoch = epoch
            for x, y, _ in epoch_loader(train, settings.batch_size, settings.num_workers, settings.seed, epoch):
                with autocast(self.device):
                    out = self.model(to_device(x, self.device, self.channels_last))
                loss = task.loss(out.float(), y.to(self.device))
                optimiser_step(loss, optimizer, scheduler, params, settings.grad_clip)
                total, count = total + loss.item() * len(x), count + len(x)
        return self.arrays(), total / max(count, 1)

    def score(self, arrays: Arrays) -> tuple[float, float]:
        """Loss and metric (AUC) of ``arrays`` on this site's validation subjects."""
        loss, metric, _, _ = self.validation(arrays)
        return loss, metric

    def validation(self, arrays: Arrays) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Loss, metric, class probabilities and encoded classes of ``arrays`` on this site's validation
        subjects, from one pass (the probabilities are what the server fits the threshold on)."""
        self.load(arrays)
        outputs, targets = self._outputs("val")
        task = self.data.task
        decoded = task.decode(outputs)
        return task.loss(outputs, targets).item(), task.metric(decoded, targets), decoded, targets.numpy()

    def predictions(self, arrays: Arrays) -> pd.DataFrame:
        """predictions.tsv rows of this site's test subjects under ``arrays`` (with a site column)."""
        self.load(arrays)
        outputs, _ = self._outputs("test")
        frame = predictions_frame(
            self.data.tables["test"], self.job.fold, self.data.task, self.data.task.decode(outputs)
        )
        frame.insert(2, "site", self.job.site)
        return frame

    def _outputs(self, role: str) -> tuple[torch.Tensor, torch.Tensor]:
        loader = epoch_loader(self.data.datasets[role], self.job.settings.batch_size, self.job.settings.num_workers)
        return predict(self.model, loader, self.device, self.channels_last)
