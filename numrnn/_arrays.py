"""Turning user input into NumPy arrays: dtype rules, torch tensors without torch."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array", "as_float_array", "check_dtype", "check_int", "describe"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: Any) -> np.dtype:
    """Validate a layer's ``dtype`` argument: float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return dt


def check_int(value: Any, name: str, minimum: int) -> int:
    """A constructor's size argument: an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} should be of type int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def as_array(value: Any) -> np.ndarray:
    """Any array-like (lists, memoryviews, torch tensors) as an ndarray, never importing torch.

    Torch tensors are recognised by duck typing: a tensor that requires grad is
    detached, one on another device is moved to the CPU, and bfloat16 (which NumPy
    has no dtype for) is widened to float32, exactly.
    """
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def describe(arr: np.ndarray) -> str:
    return f"{arr.dtype} array of shape {tuple(arr.shape)}"


def as_float_array(value: Any, dtype: np.dtype, name: str) -> np.ndarray:
    """``value`` as an ndarray of ``dtype``; integer, bool, complex, object and text raise TypeError.

    Float input of another precision is converted; an array already of ``dtype`` is
    returned as is (no copy).
    """
    try:
        arr = as_array(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a float array-like, got {type(value).__name__}") from exc
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must hold floating-point values, got dtype {arr.dtype} "
            f"(convert explicitly, e.g. x.astype(np.float32))"
        )
    return arr if arr.dtype == dtype else arr.astype(dtype)
