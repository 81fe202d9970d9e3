"""The floor of a NumPy recurrence on tiny shapes: what the fewest NumPy calls per step cost.

    python benchmarks/floor.py

At N = 1, H = 5 (the `seed` and `stream` cells) the arithmetic of a step is a few hundred
flops; its cost is the Python-to-C overhead of the NumPy calls that make up the step.
This script times (a) one minimal ufunc call and one np.dot call on such operands,
(b) numrnn's per-step call sequence for each layer in a bare loop (the fused one-row
path: one product, then the gate arithmetic, every output in place, nothing else), and
(c) numrnn's measured time per step. (b) is the floor numrnn's kernels can reach in
NumPy; a bar below it needs compiled code (one C/Numba kernel for the whole step).
"""

from __future__ import annotations

import time

import numpy as np

import numrnn as nn

H, D, T = 5, 3, 1000
f32 = np.float32
dot, add, mul, tanh, sub = np.dot, np.add, np.multiply, np.tanh, np.subtract
src = np.zeros((1, D + 1 + H), f32)
w1, w4 = np.zeros((D + 1 + H, H), f32), np.zeros((D + 1 + H, 4 * H), f32)
g, p = np.zeros((1, 4 * H), f32), np.zeros((1, 2 * H), f32)
t, h = np.zeros((1, H), f32), np.zeros((1, H), f32)
half = np.full((), 0.5, f32)  # as numrnn's kernels pass it: a 0-d array is cheaper per call than 0.5


def empty(n: int) -> None:
    for _ in range(n):
        pass


def one_add(n: int) -> None:
    for _ in range(n):
        add(t, t, h)


def one_dot(n: int) -> None:
    for _ in range(n):
        dot(src, w1, h)


def rnn_steps(n: int) -> None:  # 2 calls: the fused product, tanh
    for _ in range(n):
        dot(src, w1, h)
        tanh(h, h)


def lstm_steps(n: int) -> None:  # 8 calls
    for _ in range(n):
        dot(src, w4, g)
        tanh(g, g)
        mul(g, half, g)
        add(g, half, g)
        mul(p, p, p)
        add(t, t, t)
        tanh(t, t)
        mul(t, t, h)


def gru_steps(n: int) -> None:  # 10 calls
    for _ in range(n):
        dot(src, w4, g)
        tanh(p, p)
        mul(p, half, p)
        add(p, half, p)
        mul(t, t, t)
        add(t, t, t)
        tanh(t, t)
        sub(h, t, t)
        mul(t, t, t)
        add(t, t, h)


def _per_iteration(fn, n: int = 20000, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    loop = _per_iteration(empty)
    add_us = (_per_iteration(one_add) - loop) * 1e6
    dot_us = (_per_iteration(one_dot) - loop) * 1e6
    print(f"empty loop {loop * 1e6:.3f} us; one np.add on [1, {H}]: {add_us:.3f} us; "
          f"one np.dot [1, {D + 1 + H}] x [{D + 1 + H}, {H}]: {dot_us:.3f} us")
    print(f"\n{'layer':6} {'calls/step':>10} {'floor us/step':>14} {'numrnn us/step':>15}")
    x = np.random.default_rng(0).standard_normal((T, 1, D)).astype(f32)
    for name, steps, calls in [("RNN", rnn_steps, 2), ("LSTM", lstm_steps, 8), ("GRU", gru_steps, 10)]:
        floor = _per_iteration(steps)
        layer = getattr(nn, name)(D, H)
        layer(x)
        best = float("inf")
        for _ in range(15):
            t0 = time.perf_counter()
            layer(x)
            best = min(best, (time.perf_counter() - t0) / T)
        print(f"{name:6} {calls:>10} {floor * 1e6:>14.3f} {best * 1e6:>15.3f}")


if __name__ == "__main__":
    main()
