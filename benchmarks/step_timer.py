"""Time one ``neuropeft`` step in a fresh interpreter and read its own peak memory."""

from __future__ import annotations

import subprocess
import sys
import time

# VmHWM (this process's resident high-water mark); ru_maxrss would inherit the parent's across exec
MEASURE = (
    "import sys\n"
    "from neuropeft.cli import main\n"
    "status = main(sys.argv[1:])\n"
    "print('PEAK_KB', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    "sys.exit(status)\n"
)


def measure(argv: list[str]) -> tuple[float, float]:
    """Run ``neuropeft ARGV`` in a fresh interpreter; return (seconds, peak MiB)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *map(str, argv)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"neuropeft {argv[0]} failed: {done.stderr.strip()}")
    seconds = time.perf_counter() - start
    peak_kb = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("PEAK_KB")))
    return seconds, peak_kb / 1024
