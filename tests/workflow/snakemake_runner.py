"""Run the workflow's Snakefile in a scratch working directory and read its job counts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
TINY = str(ROOT / "config" / "tiny.yaml")


def snakemake(workdir: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """``snakemake -d workdir ARGS`` with this interpreter; output captured as text."""
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table printed by a (dry) run: rule -> number of jobs."""
    match = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, re.S)
    if not match:
        return {}
    return {rule: int(count) for rule, count in re.findall(r"^(\S+)\s+(\d+)$", match.group(1), re.M)}
