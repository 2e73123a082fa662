#!/usr/bin/env bash
# GPU training figures in one call: fmcib-resnet50 at 2 channels x 96^3, methods lora, full and
# linear_probe, each at the largest batch that fits (doubling from 2), with volumes/s, peak GPU
# memory and model FLOP utilisation (MFU) against the GPU's bf16 dense peak (bench_train.py); and
# the same for the SAM-Med3D encoder when the backbone registry has `sam-med3d` (a note otherwise),
# with its forward+backward time and peak memory at batch 1 x 1 x 128^3 for full, linear_probe and
# lora and its trainable parameters per head x method (bench_sam_med3d.py).
#
#   bash benchmarks/gpu.sh [OUTDIR]     # OUTDIR: else $OUT, else benchmarks/results/gpu/
#
# Writes OUTDIR/train_gpu.tsv, OUTDIR/train_gpu.md (the same table with the machine and settings)
# and OUTDIR/train_gpu.log (the benchmark's messages); with SAM-Med3D also OUTDIR/sam_med3d_time.tsv
# and OUTDIR/sam_med3d_params.tsv (in train_gpu.md too). Installs nothing beyond `make install`
# (the project's .venv); with PYTHON=/path/to/python it uses that interpreter instead, with src/ on
# PYTHONPATH, and skips `make install` (it must hold torch with CUDA and the project's dependencies).
# Bounded to about 6 minutes after the install on an H100/H200: each configuration's batch doubling
# stops at BATCH_CAP or after its SEARCH_BUDGET_S, and the whole benchmark at DEADLINE_S.
# DEVICE=cpu (with e.g. SHAPE=16 BATCH_CAP=4) runs the same on the CPU, to check the script itself.
# Settings (environment): SHAPE (96), CHANNELS (2), SAM_SHAPE (SHAPE), SAM_FIXED_SHAPE (128, the batch-1
# run's side), STEPS (5 timed), WARMUP (2 untimed),
# BATCH_CAP (1024), SEARCH_BUDGET_S (80, or 35 with SAM-Med3D), DEADLINE_S (390).
set -euo pipefail
out=${1:-${OUT:-}}
case $out in "" | /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."

fail() {
    echo "benchmarks/gpu.sh: $*" >&2
    exit 1
}

device=${DEVICE:-cuda}
if [ "$device" = cuda ] && { ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }; then
    fail "no CUDA GPU on this machine (nvidia-smi finds none); run it on a machine with an NVIDIA GPU"
fi

out=${out:-benchmarks/results/gpu}
mkdir -p "$out"
tsv=$out/train_gpu.tsv
md=$out/train_gpu.md
log=$out/train_gpu.log
: >"$log"

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
else
    make install >>"$log" 2>&1 || fail "make install failed (see $log)"
    py=.venv/bin/python
fi
"$py" -c 'import neuropeft.learn.flops, peft' 2>>"$log" ||
    fail "$py cannot import neuropeft and its dependencies (see $log)"
[ "$device" != cuda ] || "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>>"$log" ||
    fail "torch in $py sees no CUDA device ($("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null))"

shape=${SHAPE:-96}
channels=${CHANNELS:-2}
sam_shape=${SAM_SHAPE:-$shape}
sam_fixed=${SAM_FIXED_SHAPE:-128}
rm -f "$out/sam_med3d_time.tsv" "$out/sam_med3d_params.tsv"
deadline=${DEADLINE_S:-390}
if "$py" -c 'import sys; from neuropeft.learn.backbones import BACKBONES; sys.exit("sam-med3d" not in BACKBONES)' \
    2>>"$log"; then
    sam=1
    budget=${SEARCH_BUDGET_S:-35}
else
    sam=0
    budget=${SEARCH_BUDGET_S:-80}
fi
common=(--device "$device" --max-batch --batch-size 2 --channels "$channels" --methods lora full linear_probe
    --steps "${STEPS:-5}" --warmup "${WARMUP:-2}" --batch-cap "${BATCH_CAP:-1024}" --search-budget-s "$budget")
started=$SECONDS

# One backbone's rows (into $raw), within what is left of the deadline.
bench() {
    local backbone=$1 side=$2 left=$((deadline - (SECONDS - started))) status=0
    if [ "$left" -le 10 ]; then
        printf '%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$backbone" "not measured: deadline ${deadline} s reached" >>"$raw"
        return 1
    fi
    PYTHONUNBUFFERED=1 timeout --kill-after=10 "$left" \
        "$py" benchmarks/bench_train.py --backbone "$backbone" --shape "$side" "${common[@]}" >>"$raw" 2>>"$log" ||
        status=$?
    if [ "$status" -ne 0 ]; then
        local why="failed (exit $status, see train_gpu.log)"
        [ "$status" -eq 124 ] || [ "$status" -eq 137 ] && why="stopped at the deadline (${deadline} s)"
        printf '%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$backbone" "rows missing: $why" >>"$raw"
    fi
    return "$status"
}

# One bench_sam_med3d.py table (arguments after the first) into $out/sam_med3d_$1.tsv, within the deadline.
bench_sam() {
    local part=$1 left=$((deadline - (SECONDS - started)))
    shift
    if [ "$left" -le 10 ]; then
        echo "bench_sam_med3d.py $part: not run, deadline ${deadline} s reached" >&2
        return 0
    fi
    PYTHONUNBUFFERED=1 timeout --kill-after=10 "$left" "$py" benchmarks/bench_sam_med3d.py "$@" \
        >"$out/sam_med3d_$part.tsv" 2>>"$log" ||
        echo "bench_sam_med3d.py $part: failed or stopped at the deadline (see $log)" >&2
}

# The table so far: one header line (the first bench_train printed), then every row.
table() {
    {
        grep -m1 $'^backbone\tmethod' "$raw" || true
        grep -v $'^backbone\tmethod' "$raw" || true
    } >"$tsv"
}

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
status=0
echo "fmcib-resnet50 ${channels}x${shape}^3: lora, full, linear_probe (search budget ${budget} s each)" >&2
bench fmcib-resnet50 "$shape" || status=1
table
if [ "$sam" = 1 ]; then
    echo "sam-med3d 1x1x${sam_fixed}^3, batch 1: forward+backward of full, linear_probe, lora; parameters" >&2
    bench_sam params --params-only
    bench_sam time --no-params --device "$device" --shape "$sam_fixed" --repeats "${STEPS:-5}" --warmup "${WARMUP:-2}"
    echo "sam-med3d ${channels}x${sam_shape}^3: lora, full, linear_probe" >&2
    bench sam-med3d "$sam_shape" || true
    table
    sam_note="SAM-Med3D encoder (\`sam-med3d\`) at ${channels}x${sam_shape}^3."
else
    sam_note="SAM-Med3D: skipped, \`sam-med3d\` is not in the backbone registry (neuropeft.learn.backbones) yet."
fi

# A TSV file as a Markdown table.
md_table() {
    awk -F'\t' 'NR == 1 { n = NF } { line = "|"; for (i = 1; i <= n; i++) { v = $i; gsub(/\|/, "\\|", v); line = line " " v " |" }
        print line; if (NR == 1) { sep = "|"; for (i = 1; i <= n; i++) sep = sep "---|"; print sep } }' "$1"
}

# Markdown copy: the machine, the settings, then the table.
if [ "$device" = cuda ]; then
    gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
else
    gpu="$device (DEVICE=$device: a check of this script, not GPU figures)"
fi
versions=$("$py" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")' 2>/dev/null || true)
peak=$("$py" -c 'import sys, torch
from neuropeft.learn.flops import peak_bf16_flops
p = peak_bf16_flops(torch.cuda.get_device_name()) if torch.cuda.is_available() else None
print("unknown: this GPU is not in the table of neuropeft.learn.flops, so MFU is blank" if p is None
      else f"{p / 1e12:g} TFLOP/s bf16 dense")' 2>>"$log" || echo "unknown")
{
    echo "# Training throughput on the GPU"
    echo
    echo "- GPU: $gpu ($versions); measured $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- peak used for MFU: $peak"
    echo "- settings: ${channels}x${shape}^3 random volumes, MLP head, bf16 autocast, AdamW; batch doubled from 2" \
        "until out of memory, batch cap ${BATCH_CAP:-1024} or ${budget} s of search; ${WARMUP:-2} untimed +" \
        "${STEPS:-5} timed steps at each batch"
    echo "- FLOPs: one forward + backward counted by torch's FlopCounterMode on the meta device (what runs:" \
        "no weight gradients for frozen layers); MFU = achieved FLOP/s / peak"
    echo "- $sam_note"
    echo
    md_table "$tsv"
    for part in time params; do
        [ -s "$out/sam_med3d_$part.tsv" ] || continue
        heading="forward+backward at batch 1 x 1 x ${sam_fixed}^3 (bench_sam_med3d.py: mean over timed passes"
        heading="$heading: ${STEPS:-5}, untimed first: ${WARMUP:-2}; bf16 autocast on CUDA, no optimiser step)"
        [ "$part" = time ] || heading="trainable parameters per head x method (2 classes, LoRA/DoRA rank 8)"
        echo
        echo "## SAM-Med3D encoder: $heading"
        echo
        md_table "$out/sam_med3d_$part.tsv"
    done
} >"$md"
cat "$md"
echo "wrote $tsv and $md in $((SECONDS - started)) s" >&2
exit "$status"
