"""A multi-modal fold model's test predictions with some modalities absent (``neuropeft predict-inputs``).

For every set S of the stack's modalities that shares one with the model's, the fold's test subjects that
have every modality of S are predicted with the model's other modalities zeroed — as a subject lacking
them is stored. The rows (predictions.tsv columns, plus ``input``: S, and ``present``: the modalities
the subject has) let the modality table set the metric on A alone, on B alone and on both side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from neuropeft.atomic import write_tsv
from neuropeft.errors import NeuropeftError
from neuropeft.learn.data import VolumeDataset, fold_tables
from neuropeft.learn.fold_model import predict, predictions_frame, uses_channels_last
from neuropeft.learn.folds import read_index
from neuropeft.learn.modalities import (
    channel_indices,
    experiment_modalities,
    input_label,
    input_positions,
    input_sets,
)
from neuropeft.learn.predict import input_channels, load_fold_model


def present_modalities(array: np.ndarray, rows: list[int], stack: list[str]) -> list[list[str]]:
    """Per row, the stack's modalities with any non-zero voxel (a subject lacking one has zeros there)."""
    present = []
    for row in rows:
        volume = array[row]
        present.append([m for m in stack if np.any(volume[channel_indices(stack, [m])])])
    return present


def input_predictions(
    array_path: Path, index_path: Path, folds_path: Path, model_dir: Path, device: torch.device
) -> pd.DataFrame:
    """The fold's test predictions for every input set (see the module docstring)."""
    model, task, run = load_fold_model(model_dir, device)
    settings = run["settings"]
    stack = list(settings.get("stack_modalities") or [])
    if len(stack) < 2:
        raise NeuropeftError(f"{model_dir} was trained on one modality; inputs are compared with several")
    array = np.load(array_path, mmap_mode="r")
    channels = input_channels(array, run, array_path)
    folds = pd.read_csv(folds_path, sep="\t", dtype=str, keep_default_na=False)
    test = fold_tables(read_index(index_path), folds, int(run["fold"]), array.shape[0])["test"]
    present = present_modalities(array, test["row"].tolist(), stack)
    mine = experiment_modalities(stack, settings.get("modalities", []))
    position = input_positions(mine)
    channels_last = uses_channels_last(settings["backbone"], device)
    frames = []
    for inputs in input_sets(stack):
        if not set(inputs) & set(mine):
            continue
        keep = [set(inputs) <= set(p) for p in present]
        if not any(keep):
            continue
        rows = test[keep].reset_index(drop=True)
        blank = [c for m in mine if m not in inputs for c in position[m]]
        dataset = VolumeDataset(array_path, rows["row"], torch.zeros(len(rows)), channels=channels, blank=blank)
        loader = DataLoader(dataset, batch_size=int(settings.get("batch_size", 4)), shuffle=False)
        outputs, _ = predict(model, loader, device, channels_last)
        bias = run.get("age_bias")
        bias_fit = None if bias is None else (float(bias["slope"]), float(bias["intercept"]))
        frame = predictions_frame(rows, run["fold"], task, task.decode(outputs), run.get("threshold"), bias_fit)
        frame.insert(3, "input", input_label(inputs))
        frame.insert(4, "present", [input_label(p) for p, k in zip(present, keep, strict=False) if k])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_input_predictions(
    array_path: Path, index_path: Path, folds_path: Path, model_dir: Path, out: Path, device: torch.device
) -> None:
    """Predict the fold's test subjects for every input set and write ``out``."""
    write_tsv(input_predictions(array_path, index_path, folds_path, model_dir, device), out)
