"""Training throughput (volumes/s), peak memory and model FLOP utilisation for backbone × method at a given shape.

CPU default: resnet10 at 2×48³, batch 2, methods lora, full, linear_probe. On CUDA
(``--device cuda --backbone fmcib-resnet50 --shape 96``) ``--max-batch`` doubles the batch until
out of memory, ``--batch-cap`` or ``--search-budget-s`` and reports the largest batch measured.
Each configuration (backbone × method) runs in its own process, so CPU peak RSS and GPU state are
its own; with ``--max-batch`` that process runs the whole doubling. Warm-up steps are not timed.

FLOPs per step are counted on the meta device (neuropeft.learn.flops: forward + backward, what
actually runs); MFU is achieved FLOP/s over the GPU's bf16 dense peak, blank where the GPU is not
in the table (and on the CPU). Prints one TSV row per configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.flops import model_flop_utilisation, peak_bf16_flops, training_step_flops
from neuropeft.learn.fold_model import make_model, uses_channels_last
from neuropeft.learn.loop import autocast, seed_everything, select_device
from neuropeft.learn.methods import count_parameters

COLUMNS = [
    "backbone",
    "method",
    "head",
    "shape",
    "batch",
    "trainable_params",
    "volumes_per_s",
    "seconds_per_step",
    "peak_memory_mb",
    "gflop_per_step",
    "achieved_tflop_per_s",
    "peak_tflop_per_s",
    "mfu_pct",
    "device",
    "note",
]


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the device type."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


class Bench:
    """One backbone × method model with its optimiser, timed at any batch size."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        seed_everything(0, device)
        self.args, self.device = args, device
        self.settings = dataclasses.replace(
            ExperimentSettings(), backbone=args.backbone[0], method=args.methods[0], head=args.head, lora_rank=args.rank
        )
        side = args.shape
        model = make_model(self.settings, args.channels, (side,) * 3, 2, "random").to(device)
        self.channels_last = uses_channels_last(args.backbone[0], device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        self.model = model.train()
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        self.trainable = count_parameters(model).trainable
        self.peak = peak_bf16_flops(device_name(device)) if device.type == "cuda" else None

    def measure(self, batch: int) -> dict:
        """Time ``--steps`` optimiser steps at ``batch`` after ``--warmup`` untimed ones, on random volumes."""
        args, device, side = self.args, self.device, self.args.shape
        x = torch.randn(batch, args.channels, side, side, side, device=device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y = torch.arange(batch, device=device) % 2

        def step() -> None:
            with autocast(device):
                loss = torch.nn.functional.cross_entropy(self.model(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

        seconds, peak_memory = time_steps(step, args.warmup, args.steps, device)
        flops = training_step_flops(self.settings, args.channels, side, batch)
        mfu = model_flop_utilisation(flops, seconds, self.peak)
        return {
            "backbone": self.settings.backbone,
            "method": self.settings.method,
            "head": self.settings.head,
            "shape": f"{args.channels}x{side}^3",
            "batch": batch,
            "trainable_params": self.trainable,
            "volumes_per_s": round(batch / seconds, 3),
            "seconds_per_step": round(seconds, 4),
            "peak_memory_mb": round(peak_memory, 1),
            "gflop_per_step": round(flops / 1e9, 1),
            "achieved_tflop_per_s": float(f"{flops / seconds / 1e12:.4g}"),
            "peak_tflop_per_s": "" if self.peak is None else round(self.peak / 1e12),
            "mfu_pct": "" if mfu is None else round(100 * mfu, 1),
            "device": device_name(device),
            "note": "",
        }


def time_steps(step: Callable[[], None], warmup: int, steps: int, device: torch.device) -> tuple[float, float]:
    """Seconds per call of ``step`` (mean of ``steps`` timed calls after ``warmup`` untimed ones) and
    peak memory in MiB: the GPU's allocated peak of the timed calls on CUDA, else the process's peak RSS."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    if device.type == "cuda":
        return seconds, torch.cuda.max_memory_allocated() / 2**20
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's allocator or a library (cuDNN, cuBLAS) ran out of device memory."""
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


def run_single(args: argparse.Namespace) -> None:
    """One configuration: one JSON line per batch measured (a doubling search with ``--max-batch``)."""
    bench = Bench(args, select_device(args.device))
    batch, started = args.batch_size, time.perf_counter()
    while True:
        measured_at = time.perf_counter()
        try:
            result = bench.measure(batch)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if batch == args.batch_size and not is_out_of_memory(error):
                raise
            first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
            why = "out of memory" if is_out_of_memory(error) else f"error ({first_line})"
            print(json.dumps({"stopped": f"{why} at batch {batch}", "oom": is_out_of_memory(error)}), flush=True)
            return
        print(json.dumps(result), flush=True)
        if not args.max_batch:
            return
        took = time.perf_counter() - measured_at
        if 2 * batch > args.batch_cap:
            print(json.dumps({"stopped": f"batch cap {args.batch_cap} reached"}), flush=True)
            return
        if time.perf_counter() - started + 2 * took > args.search_budget_s:
            print(json.dumps({"stopped": f"search budget {args.search_budget_s:g} s reached"}), flush=True)
            return
        batch *= 2


def run_isolated(args: argparse.Namespace, backbone: str, method: str) -> tuple[dict | None, str]:
    """One configuration in a fresh process: its last measurement (None if none fitted) and why it stopped."""
    command = [sys.executable, __file__, "--single", "--backbone", backbone, "--methods", method]
    for option in ("head", "channels", "shape", "batch_size", "steps", "warmup", "device", "rank", "batch_cap"):
        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    command += ["--search-budget-s", str(args.search_budget_s)] + (["--max-batch"] if args.max_batch else [])
    done = subprocess.run(command, capture_output=True, text=True)
    best, stopped = None, ""
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "stopped" in record:
                stopped = record["stopped"]
            else:
                best = record
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        if best is None and "out of memory" not in done.stderr.lower():
            raise RuntimeError(done.stderr[-2000:])
        stopped = stopped or ("out of memory" if "out of memory" in done.stderr.lower() else last[:160])
    return best, stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", nargs="+", default=["resnet10"], help="backbone names (default resnet10)")
    parser.add_argument("--methods", nargs="+", default=["lora", "full", "linear_probe"], help="methods to measure")
    parser.add_argument("--head", default="mlp", help="head (default mlp)")
    parser.add_argument("--channels", type=int, default=2, help="input channels (default 2: FA, MD)")
    parser.add_argument("--shape", type=int, default=48, help="cubic input side (default 48)")
    parser.add_argument("--batch-size", type=int, default=2, help="batch size (start of the doubling with --max-batch)")
    parser.add_argument("--steps", type=int, default=5, help="timed optimiser steps (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed optimiser steps before them (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA/DoRA rank (default 8)")
    parser.add_argument("--max-batch", action="store_true", help="double the batch until out of memory (CUDA)")
    parser.add_argument("--batch-cap", type=int, default=1024, help="largest batch --max-batch tries (default 1024)")
    parser.add_argument(
        "--search-budget-s",
        type=float,
        default=120,
        help="--max-batch tries no batch whose measurement would end past this many seconds (default 120)",
    )
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        select_device(args.device)
    except NeuropeftError as error:
        parser.exit(1, f"bench_train.py: {error}\n")
    if args.single:
        run_single(args)
        return
    print("\t".join(COLUMNS), flush=True)
    for backbone in args.backbone:
        for method in args.methods:
            best, stopped = run_isolated(args, backbone, method)
            if best is None:
                best = dict.fromkeys(COLUMNS, "") | {"backbone": backbone, "method": method, "head": args.head}
                best["note"] = f"nothing measured: {stopped}"
            elif args.max_batch:
                best["note"] = f"largest measured; next: {stopped}" if stopped else "largest measured"
            print("\t".join(str(best[c]) for c in COLUMNS), flush=True)


if __name__ == "__main__":
    main()
