"""The generator fresh layers draw their initial weights from (``numrnn.manual_seed``).

A counter-based SplitMix64 stream written in NumPy integer arithmetic rather than
``numpy.random``: importing ``numpy.random`` costs ~10-15 ms, a large share of a cold
start (import, load a checkpoint, run once) whose initial weights are overwritten by
``load_state_dict`` anyway. Draw ``k`` of the stream is ``mix(seed + k·γ)``, so the same
seed gives the same weights, in any process, on any platform.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["manual_seed", "uniform", "normal"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_state = {"seed": int.from_bytes(os.urandom(8), "little"), "counter": 0}


def manual_seed(seed: int) -> None:
    """Reseed the generator used to initialise new layers (``torch.manual_seed`` for numrnn).

    Layers built after the same seed, in the same order, get identical weights.
    (The values differ from torch's: torch's generator is not reproduced.)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    _state["seed"] = int(seed) % 2**64
    _state["counter"] = 0


def _unit(n: int) -> np.ndarray:
    """``n`` float64 draws uniform in [0, 1), the next ``n`` of the stream."""
    start = _state["counter"]
    _state["counter"] = start + n
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        z = np.arange(start + 1, start + n + 1, dtype=np.uint64) * _GAMMA + np.uint64(_state["seed"])
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def uniform(bound: float, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uniform(-bound, bound) draws, as torch's ``nn.init.uniform_``."""
    u = _unit(math.prod(shape)).reshape(shape)
    return ((2.0 * u - 1.0) * bound).astype(dtype)


def normal(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal draws (Box-Muller), as torch's ``nn.init.normal_``."""
    n = math.prod(shape)
    u = _unit(2 * n)
    r = np.sqrt(-2.0 * np.log1p(-u[:n]))  # 1 - u in (0, 1]: the log is finite
    return (r * np.cos(2.0 * math.pi * u[n:])).reshape(shape).astype(dtype)
