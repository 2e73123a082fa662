"""Training throughput (volumes/s) and peak memory for backbone × method at a given shape and batch.

CPU default: resnet10 at 2×48³, batch 2, methods lora, full, linear_probe. On CUDA
(``--device cuda --backbone fmcib-resnet50 --shape 96``) ``--max-batch`` doubles the batch until
out-of-memory and reports the largest that fits. Each configuration runs in its own process so
CPU peak RSS is its own. Prints one TSV row per configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time

import torch

from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import make_model
from neuropeft.learn.loop import autocast, seed_everything, select_device
from neuropeft.learn.methods import count_parameters


def measure(
    backbone: str,
    method: str,
    head: str,
    channels: int,
    side: int,
    batch: int,
    steps: int,
    device: torch.device,
    rank: int,
) -> dict:
    """Time ``steps`` optimiser steps after one warm-up step on random volumes."""
    seed_everything(0, device)
    settings = dataclasses.replace(ExperimentSettings(), backbone=backbone, method=method, head=head, lora_rank=rank)
    model = make_model(settings, channels, (side,) * 3, 2, "random").to(device)
    channels_last = device.type == "cuda" and not backbone.startswith("vit")
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randn(batch, channels, side, side, side, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y = torch.arange(batch, device=device) % 2
    model.train()

    def step() -> None:
        with autocast(device):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    counts = count_parameters(model)
    return {
        "backbone": backbone,
        "method": method,
        "head": head,
        "shape": f"{channels}x{side}^3",
        "batch": batch,
        "trainable_params": counts.trainable,
        "volumes_per_s": round(batch * steps / seconds, 3),
        "seconds_per_step": round(seconds / steps, 4),
        "peak_memory_mb": round(peak, 1),
        "device": str(device),
    }


def run_isolated(args: argparse.Namespace, backbone: str, method: str, batch: int) -> dict | None:
    """One configuration in a fresh process; None when it ran out of memory."""
    command = [
        sys.executable,
        __file__,
        "--single",
        "--backbone",
        backbone,
        "--methods",
        method,
        "--head",
        args.head,
        "--channels",
        str(args.channels),
        "--shape",
        str(args.shape),
        "--batch-size",
        str(batch),
        "--steps",
        str(args.steps),
        "--device",
        args.device,
        "--rank",
        str(args.rank),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        if "out of memory" in done.stderr.lower():
            return None
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", nargs="+", default=["resnet10"], help="backbone names (default resnet10)")
    parser.add_argument("--methods", nargs="+", default=["lora", "full", "linear_probe"], help="methods to measure")
    parser.add_argument("--head", default="mlp", help="head (default mlp)")
    parser.add_argument("--channels", type=int, default=2, help="input channels (default 2: FA, MD)")
    parser.add_argument("--shape", type=int, default=48, help="cubic input side (default 48)")
    parser.add_argument("--batch-size", type=int, default=2, help="batch size (start of the doubling with --max-batch)")
    parser.add_argument("--steps", type=int, default=5, help="timed optimiser steps after one warm-up (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA/DoRA rank (default 8)")
    parser.add_argument("--max-batch", action="store_true", help="double the batch until out of memory (CUDA)")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        device = select_device(args.device)
        result = measure(
            args.backbone[0],
            args.methods[0],
            args.head,
            args.channels,
            args.shape,
            args.batch_size,
            args.steps,
            device,
            args.rank,
        )
        print(json.dumps(result))
        return
    columns = [
        "backbone",
        "method",
        "head",
        "shape",
        "batch",
        "trainable_params",
        "volumes_per_s",
        "seconds_per_step",
        "peak_memory_mb",
        "device",
    ]
    print("\t".join(columns), flush=True)
    for backbone in args.backbone:
        for method in args.methods:
            batch, best = args.batch_size, None
            while True:
                result = run_isolated(args, backbone, method, batch)
                if result is None:
                    break
                best = result
                if not args.max_batch:
                    break
                batch *= 2
            if best is None:
                print(f"{backbone}\t{method}\tout of memory at batch {args.batch_size}", flush=True)
            else:
                print("\t".join(str(best[c]) for c in columns), flush=True)


if __name__ == "__main__":
    main()
