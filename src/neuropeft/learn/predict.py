"""Scoring images with a trained fold model: rebuild it from its run.json and weights, predict every row."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.covariates import CovariateEncoder
from neuropeft.learn.data import VolumeDataset
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import (
    UNKNOWN_TARGETS,
    load_trained_model,
    predict,
    predictions_frame,
    uses_channels_last,
)
from neuropeft.learn.folds import read_index
from neuropeft.learn.modalities import experiment_channels
from neuropeft.learn.tasks import Task, normalise_label

#: run.json fields the rebuild needs
RUN_FIELDS = ("fold", "task", "classes", "target_mean", "target_std", "input_shape", "init", "settings")


def read_run(model_dir: Path) -> dict[str, Any]:
    """The fold's run.json, checked for the fields a rebuild needs."""
    path = model_dir / "run.json"
    try:
        run = json.loads(path.read_text())
    except FileNotFoundError:
        raise NeuropeftError(f"missing {path}; train that fold first (or point --model-dir at a fold folder)") from None
    except json.JSONDecodeError as error:
        raise NeuropeftError(f"{path} is not valid JSON ({error}); retrain that fold") from None
    missing = [field for field in RUN_FIELDS if field not in run]
    if missing:
        raise NeuropeftError(
            f"{path} lacks field(s) {missing}; it was written by an older neuropeft, retrain that fold"
        )
    return run


def run_settings(run: dict[str, Any], source: Path) -> ExperimentSettings:
    """The experiment settings recorded in run.json (fields added since keep their defaults)."""
    known = {field.name for field in dataclasses.fields(ExperimentSettings)}
    unknown = sorted(set(run["settings"]) - known)
    if unknown:
        raise NeuropeftError(
            f"{source}: settings {unknown} are unknown to this neuropeft; use the version that trained it"
        )
    return ExperimentSettings(**run["settings"])


def load_fold_model(model_dir: Path, device: torch.device) -> tuple[nn.Module, Task, dict[str, Any]]:
    """The trained model of a fold folder (eval mode, on ``device``), its task and its run.json."""
    run = read_run(model_dir)
    settings = run_settings(run, model_dir / "run.json")
    task = Task(run["task"], classes=list(run["classes"]), mean=float(run["target_mean"]), std=float(run["target_std"]))
    in_channels, *shape = (int(s) for s in run["input_shape"])
    init = "random" if settings.method == "full" else run["init"]  # a full model's weights file holds every tensor
    n_covariates = CovariateEncoder.from_json(run["covariates"]).width if run.get("covariates") else 0
    if run.get("cross_modal_source"):
        from neuropeft.learn.cross_modal import load_cross_modal

        model = load_cross_modal(model_dir, settings, Path(run["cross_modal_source"]))
    else:
        model = load_trained_model(
            model_dir, settings, in_channels, tuple(shape), task.out_features, init, n_covariates
        )
    return model.to(device).eval(), task, run


def input_channels(array: np.ndarray, run: dict[str, Any], array_path: Path) -> list[int] | None:
    """The array's channels the fold model takes (None: all), refusing an array of another shape than its input."""
    expected = [int(s) for s in run["input_shape"]]
    settings = run["settings"]
    channels = None
    if array.ndim == 5 and settings.get("stack_modalities"):
        stack, chosen = settings["stack_modalities"], settings.get("modalities", [])
        channels = experiment_channels(stack, chosen, array.shape[1], str(array_path))
    shape = list(array.shape[1:]) if channels is None or array.ndim != 5 else [len(channels), *array.shape[2:]]
    if array.ndim != 5 or shape != expected:
        raise NeuropeftError(
            f"{array_path} has volumes of shape {list(array.shape[1:])} (channels, X, Y, Z) but the model takes {expected}; "
            "build it with the same modalities and model grid as the training input"
        )
    return channels


def check_input(array: np.ndarray, index: pd.DataFrame, run: dict[str, Any], array_path: Path, task: Task) -> None:
    """Refuse index rows the array lacks, or labels the model never saw."""
    if ((index["row"] < 0) | (index["row"] >= array.shape[0])).any():
        raise NeuropeftError(
            f"index rows exceed the {array.shape[0]} volumes of {array_path}; rebuild the array and index together"
        )
    if task.kind == "classification":
        known = ~index["target"].isin(UNKNOWN_TARGETS)
        foreign = sorted({normalise_label(t) for t in index["target"][known]} - set(task.classes))
        if foreign:
            raise NeuropeftError(
                f"target label(s) {foreign} are not among the model's classes {task.classes}; recode the target "
                "(or write n/a where it is unknown)"
            )
    elif task.kind == "regression":  # a survival index carries its outcomes as the stacking wrote them
        try:
            index["target"][~index["target"].isin(UNKNOWN_TARGETS)].astype(float)
        except ValueError:
            raise NeuropeftError(
                "a regression model needs numeric targets (or n/a where unknown); fix the index target column"
            ) from None


def predict_array(
    array_path: Path, index_path: Path, model_dir: Path, device: torch.device, batch_size: int = 0
) -> pd.DataFrame:
    """predictions.tsv rows (fold = the model's fold) of every index row, in index order."""
    model, task, run = load_fold_model(model_dir, device)
    if run.get("covariates"):
        raise NeuropeftError(
            f"{model_dir} was trained with covariates {[c['name'] for c in run['covariates']]}; "
            "predicting a new array does not read covariates yet, train the experiment without them"
        )
    index = read_index(index_path)
    array = np.load(array_path, mmap_mode="r")
    channels = input_channels(array, run, array_path)
    check_input(array, index, run, array_path, task)
    dataset = VolumeDataset(array_path, index["row"], torch.zeros(len(index)), channels=channels)
    size = batch_size or int(run["settings"].get("batch_size", 4))
    loader = DataLoader(dataset, batch_size=size, shuffle=False, num_workers=0, pin_memory=device.type == "cuda")
    channels_last = uses_channels_last(run["settings"]["backbone"], device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    outputs, _ = predict(model, loader, device, channels_last)
    bias = run.get("age_bias")
    bias_fit = None if bias is None else (float(bias["slope"]), float(bias["intercept"]))
    return predictions_frame(index, run["fold"], task, task.decode(outputs), run.get("threshold"), bias_fit)


def predict_to_file(
    array_path: Path, index_path: Path, model_dir: Path, out_path: Path, device: torch.device, batch_size: int = 0
) -> None:
    """Predict every row of the array with the fold model of ``model_dir`` and write ``out_path``."""
    write_tsv(predict_array(array_path, index_path, model_dir, device, batch_size), out_path)
