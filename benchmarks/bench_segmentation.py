"""Seconds per epoch and peak memory of each segmentation method (issue 18) on one backbone.

Each method runs in its own process (as bench_train.py: its peak memory is its own). An epoch is
``--subjects`` volumes of ``--shape`` in batches of ``--batch``: forward, MONAI's DiceCE loss on
random labels of ``--classes`` classes, backward and an AdamW step, bf16 autocast on CUDA as in
training; ``--warmup`` untimed epochs, then ``--epochs`` timed. Peak memory: the GPU's allocated peak
on CUDA, else the process's peak RSS (weights, activations and the imported libraries). The device is
CUDA when present, else the CPU. Defaults: UNETR (ViT-B encoder) at the demo grid, 32 × 40 × 32.

    .venv/bin/python benchmarks/bench_segmentation.py
    .venv/bin/python benchmarks/bench_segmentation.py --backbone swin-unetr --shape 96 96 96   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch
from bench_train import device_name, time_steps
from monai.losses import DiceCELoss

from neuropeft.learn.loop import autocast, seed_everything, select_device
from neuropeft.learn.methods import count_parameters
from neuropeft.segment.methods import METHODS
from neuropeft.segment.train import SegmentationSettings, make_segmentation_model

COLUMNS = ["method", "trainable_params", "seconds_per_epoch", "peak_memory_mb"]


def run_single(args: argparse.Namespace) -> None:
    """Time one method; print its row as JSON."""
    device = select_device("auto")
    seed_everything(0, device)
    settings = SegmentationSettings(backbone=args.backbone, method=args.method)
    model = make_segmentation_model(settings, 1, args.classes, tuple(args.shape)).to(device)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    images = torch.randn(args.batch, 1, *args.shape, device=device)
    labels = torch.randint(0, args.classes, (args.batch, 1, *args.shape), device=device)
    steps = -(-args.subjects // args.batch)

    def epoch() -> None:
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            with autocast(device):
                logits = model(images)
            loss_fn(logits.float(), labels).backward()
            optimiser.step()

    seconds, peak = time_steps(epoch, args.warmup, args.epochs, device)
    row = [args.method, count_parameters(model).trainable, round(seconds, 2), round(peak)]
    print(json.dumps(dict(zip(COLUMNS, row, strict=True))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="unetr")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--method", help=argparse.SUPPRESS)  # one method, in its own process
    parser.add_argument("--shape", type=int, nargs=3, default=[32, 40, 32])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if args.method:
        run_single(args)
        return
    device = select_device("auto")
    print(
        f"{args.backbone}, {args.subjects} volumes of {'x'.join(map(str, args.shape))} per epoch, batch {args.batch},"
        f" {args.classes} classes, on {device_name(device)}"
    )
    print("\t".join(COLUMNS))
    for method in args.methods:
        command = [sys.executable, __file__, "--method", method, *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{method}\tfailed: {done.stderr.strip().splitlines()[-1]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print("\t".join(str(row[c]) for c in COLUMNS))


if __name__ == "__main__":
    main()
