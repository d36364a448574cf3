"""Small statistics and timing helpers for the benchmarks."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from pipeline import REPO_ROOT


def summary(samples) -> dict:
    samples = np.asarray(samples, dtype=float)
    return {
        "median": float(np.median(samples)),
        "p99": float(np.percentile(samples, 99)),
        "min": float(samples.min()),
        "n": int(samples.size),
    }


def run_process(args: list[str], timeout: float = 3600) -> tuple[float, str]:
    """Run `python args...` from the repository root; returns (wall seconds, stdout)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout
