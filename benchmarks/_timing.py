"""Timing: interleaved medians of several peers, and the machine's GEMM throughput."""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import numpy as np


def interleaved_medians(
    runs: dict[str, Callable[[], object]],
    *,
    budget_s: float,
    min_rounds: int,
    max_rounds: int,
    warmup: int = 2,
    settle_s: float = 0.05,
    block_s: float = 0.05,
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each callable, the peers' blocks of calls interleaved.

    Each round gives every peer one block, in an order that rotates from round to round, so
    a burst of noise (another process, a frequency change) hits all peers alike. A block
    first runs the peer untimed for `settle_s` (at least one call), then times calls for
    `block_s` (at least one). The settling is needed because the engines' thread pools
    (OpenBLAS, torch's OpenMP, ORT) keep spinning for milliseconds after a call: measured
    on a 2-core machine, the first call after another engine ran was up to 6× slower than
    in steady state, which is not what a program running one engine sees.
    The number of rounds is chosen from the warm-up times to fit `budget_s`, within
    [`min_rounds`, `max_rounds`]. "repeats" in the result counts the timed calls.
    """
    per_call = {}
    for name, run in runs.items():
        times = []
        for _ in range(warmup):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        per_call[name] = max(min(times), 1e-7)
    settle = {name: max(1, math.ceil(settle_s / t)) for name, t in per_call.items()}
    block = {name: max(1, math.ceil(block_s / t)) for name, t in per_call.items()}
    round_s = sum((settle[n] + block[n]) * t for n, t in per_call.items())
    rounds = max(min_rounds, min(max_rounds, int(budget_s / round_s)))

    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            run = runs[name]
            for _ in range(settle[name]):
                run()
            for _ in range(block[name]):
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "repeats": len(times),
            "rounds": rounds,
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
