"""The generator fresh layers draw their initial weights from (``numrnn.manual_seed``)."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "uniform", "normal"]

_state = {"rng": np.random.default_rng()}


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator used to initialise new layers (``torch.manual_seed`` for numrnn).

    Layers built after the same seed, in the same order, get identical weights.
    (The values differ from torch's: torch's generator is not reproduced.)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    rng = np.random.default_rng(int(seed))
    _state["rng"] = rng
    return rng


def uniform(bound: float, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uniform(-bound, bound) draws, as torch's ``nn.init.uniform_``."""
    return _state["rng"].uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal draws, as torch's ``nn.init.normal_``."""
    return _state["rng"].standard_normal(size=shape).astype(dtype)
