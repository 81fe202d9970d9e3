"""Timing: interleaved medians of several peers, and the machine's GEMM throughput."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np


def interleaved_medians(
    runs: dict[str, Callable[[], object]],
    *,
    budget_s: float,
    min_repeats: int,
    max_repeats: int,
    warmup: int = 2,
) -> dict[str, dict[str, float]]:
    """Median seconds of each callable, their repetitions interleaved.

    Each round times every peer once, in an order that rotates from round to round, so a
    burst of noise (another process, a frequency change) hits all peers alike. The number
    of rounds is chosen from the slowest peer's warm-up time to fit `budget_s`.
    """
    slowest = 0.0
    for run in runs.values():
        for _ in range(warmup):
            start = time.perf_counter()
            run()
            slowest = max(slowest, time.perf_counter() - start)
    rounds = int(budget_s / max(slowest * len(runs), 1e-9))
    rounds = max(min_repeats, min(max_repeats, rounds))

    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            run = runs[name]
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "repeats": len(times),
        }
        for name, times in samples.items()
    }


GEMM_N = 2048
GEMM_FLOPS = 2 * GEMM_N**3


def gemm_run(n: int = GEMM_N) -> Callable[[], object]:
    """One float32 n×n @ n×n `np.matmul` into a preallocated output (2·n³ FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)

    def run() -> object:
        return np.matmul(a, b, out=out)

    return run


def gemm_gflops(repeats: int = 10) -> float:
    """Single-precision GEMM throughput of NumPy's BLAS: median of 2048² @ 2048², GFLOP/s."""
    run = gemm_run()
    run()  # warm-up: thread pool start, page faults on the output
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return GEMM_FLOPS / statistics.median(times) / 1e9
