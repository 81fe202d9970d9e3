"""The generator fresh layers draw their initial weights from (``numrnn.manual_seed``)."""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "uniform", "normal"]

# Created on first use: numpy.random costs ~10 ms to import, which a model that only
# loads its weights (the usual case) never needs.
_state: dict[str, np.random.Generator] = {}


def _rng() -> np.random.Generator:
    rng = _state.get("rng")
    if rng is None:
        rng = _state["rng"] = np.random.default_rng()
    return rng


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
    return _rng().uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal draws, as torch's ``nn.init.normal_``."""
    return _rng().standard_normal(size=shape).astype(dtype)
