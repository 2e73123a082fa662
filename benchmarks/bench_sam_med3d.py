"""SAM-Med3D's full-size encoder (``sam-med3d``): forward+backward time and peak memory per method at
1 × 1 × 128³, and the trainable parameters of every head × method.

Timing: ``--methods`` (default full, linear_probe, lora) with ``--head`` (default linear), each in its
own process (as bench_train.py: the CPU's peak RSS and the GPU's memory statistics are that
configuration's own). ``--warmup`` untimed, then ``--repeats`` timed passes of forward, cross-entropy
on random labels and backward (gradients cleared before each, no optimiser step), bf16 autocast on
CUDA as in training. Peak memory: ``torch.cuda.max_memory_allocated`` over the timed passes on CUDA;
on the CPU the process's peak RSS (weights, activations and the imported libraries). The device is
CUDA when present, else the CPU, where one pass of the full model takes tens of seconds: the CPU
defaults are ``--repeats 1 --warmup 0``, so its time includes the first pass's allocations.

Parameters: learn/param_counts.py on the meta device (no weights allocated, seconds), for heads
linear, conv_s, conv_l × full, linear_probe, lora on all 12 blocks, lora on the global-attention
blocks 2, 5, 8, 11 and dora (rank ``--rank``, 2 classes).

    .venv/bin/python benchmarks/bench_sam_med3d.py                       # both tables
    .venv/bin/python benchmarks/bench_sam_med3d.py --params-only
    .venv/bin/python benchmarks/bench_sam_med3d.py --methods linear_probe --no-params
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence

import torch
from bench_train import device_name, is_out_of_memory, time_steps

from neuropeft.errors import NeuropeftError
from neuropeft.learn.experiment import ExperimentSettings
from neuropeft.learn.fold_model import make_model
from neuropeft.learn.loop import autocast, seed_everything, select_device
from neuropeft.learn.methods import count_parameters
from neuropeft.learn.param_counts import parameter_counts

BACKBONE = "sam-med3d"
GLOBAL_BLOCKS = (2, 5, 8, 11)
#: the parameter table's rows: label -> (method, lora_blocks)
PARAM_METHODS = {
    "full": ("full", ()),
    "linear_probe": ("linear_probe", ()),
    "lora (all blocks)": ("lora", ()),
    "lora (blocks 2,5,8,11)": ("lora", GLOBAL_BLOCKS),
    "dora": ("dora", ()),
}
PARAM_HEADS = ("linear", "conv_s", "conv_l")
PARAM_COLUMNS = ["head", "method", "trainable_params", "trainable_pct", "total_params", "adapter_params", "head_params"]
TIME_COLUMNS = [
    "method",
    "head",
    "shape",
    "batch",
    "trainable_params",
    "seconds_fwd_bwd",
    "peak_memory_mb",
    "repeats",
    "warmup",
    "device",
    "note",
]


def measure(args: argparse.Namespace) -> dict[str, object]:
    """One method in this process: mean seconds of a forward+backward pass and the peak memory."""
    device = select_device(args.device)
    seed_everything(0, device)
    settings = dataclasses.replace(
        ExperimentSettings(), backbone=BACKBONE, method=args.methods[0], head=args.head, lora_rank=args.rank
    )
    side = args.shape
    model = make_model(settings, 1, (side,) * 3, 2, "random").to(device).train()
    x = torch.randn(args.batch, 1, side, side, side, device=device)
    y = torch.arange(args.batch, device=device) % 2

    def fwd_bwd() -> None:
        model.zero_grad(set_to_none=True)
        with autocast(device):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()

    seconds, peak = time_steps(fwd_bwd, args.warmup, args.repeats, device)
    return {
        "method": settings.method,
        "head": settings.head,
        "shape": f"1x{side}^3",
        "batch": args.batch,
        "trainable_params": count_parameters(model).trainable,
        "seconds_fwd_bwd": round(seconds, 4),
        "peak_memory_mb": round(peak, 1),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "device": device_name(device),
        "note": "peak RSS of the process" if device.type == "cpu" else "max allocated",
    }


def run_isolated(args: argparse.Namespace, method: str) -> dict[str, object]:
    """``method`` measured in a fresh process; a row with a note when it failed or ran out of memory."""
    command = [sys.executable, __file__, "--single", "--methods", method]
    for option in ("head", "shape", "batch", "repeats", "warmup", "device", "rank"):
        command += [f"--{option}", str(getattr(args, option))]
    done = subprocess.run(command, capture_output=True, text=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode == 0 and rows:
        return rows[-1]
    why = "out of memory" if "out of memory" in done.stderr.lower() else f"failed (exit {done.returncode})"
    last = done.stderr.strip().splitlines()[-1][:160] if done.stderr.strip() else ""
    row: dict[str, object] = dict.fromkeys(TIME_COLUMNS, "")
    return row | {"method": method, "head": args.head, "note": f"nothing measured: {why}; {last}"}


def parameter_rows(rank: int) -> list[dict[str, object]]:
    """Trainable, total, adapter and head parameters of every head × method of :data:`PARAM_METHODS`."""
    rows = []
    for head in PARAM_HEADS:
        for label, (method, blocks) in PARAM_METHODS.items():
            counts = parameter_counts(BACKBONE, method, head, rank=rank, lora_blocks=blocks)
            rows.append(
                {
                    "head": head,
                    "method": label,
                    "trainable_params": counts.trainable,
                    "trainable_pct": f"{100 * counts.trainable / counts.total:.3f}",
                    "total_params": counts.total,
                    "adapter_params": counts.adapters,
                    "head_params": counts.head,
                }
            )
    return rows


def print_tsv(rows: Iterable[dict[str, object]], columns: Sequence[str]) -> None:
    """A header line, then one tab-separated line per row as it comes."""
    print("\t".join(columns), flush=True)
    for row in rows:
        print("\t".join(str(row[c]) for c in columns), flush=True)


def parse_args() -> argparse.Namespace:
    """Options; ``--repeats`` and ``--warmup`` default by device (CUDA 5 and 2, CPU 1 and 0)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["full", "linear_probe", "lora"], help="methods to time")
    parser.add_argument("--head", default="linear", help="head of the timed models (default linear)")
    parser.add_argument("--shape", type=int, default=128, help="cubic input side (default 128)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=int, default=0, help="timed passes (default 5 on CUDA, 1 on the CPU)")
    parser.add_argument("--warmup", type=int, default=-1, help="untimed passes first (default 2 on CUDA, 0 on the CPU)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu (default auto)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA/DoRA rank (default 8)")
    parser.add_argument("--params-only", action="store_true", help="only the parameter table")
    parser.add_argument("--no-params", action="store_true", help="only the timing table")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        cuda = select_device(args.device).type == "cuda"
    except NeuropeftError as error:
        parser.exit(1, f"bench_sam_med3d.py: {error}\n")
    args.repeats = args.repeats or (5 if cuda else 1)
    args.warmup = args.warmup if args.warmup >= 0 else (2 if cuda else 0)
    return args


def main() -> None:
    """Both tables (TSV), the parameters first."""
    args = parse_args()
    if args.single:
        try:
            print(json.dumps(measure(args)), flush=True)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not is_out_of_memory(error):
                raise
            sys.exit("out of memory")
        return
    if not args.no_params:
        print_tsv(parameter_rows(args.rank), PARAM_COLUMNS)
    if not args.params_only:
        if not args.no_params:
            print(flush=True)
        print_tsv((run_isolated(args, method) for method in args.methods), TIME_COLUMNS)


if __name__ == "__main__":
    main()
