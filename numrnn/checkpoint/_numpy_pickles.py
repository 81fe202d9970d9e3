"""NumPy scalars and arrays inside pickles (``{"best": np.float64(0.9)}``), safely.

NumPy pickles a scalar as ``scalar(dtype('f8') + BUILD(state), raw_bytes)`` and an
array as ``_reconstruct(ndarray, (0,), b'b') + BUILD((1, shape, dtype, fortran,
raw_bytes))``. These stand-ins for ``numpy.dtype``, ``scalar`` and ``_reconstruct``
accept only plain numeric dtypes (never object arrays, which would need pickle)
and check every byte count before building anything.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ._errors import CheckpointError

__all__ = ["NumpyDtype", "NumpyArray", "numpy_dtype", "numpy_scalar", "numpy_reconstruct",
           "NUMPY_MODULES"]

NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_SIMPLE = re.compile(r"^[<>=|]?[?bBhHiIlLqQefdgFDGbiufc]\d{0,2}$")


class NumpyDtype:
    """``numpy.dtype(spec, align, copy)``; BUILD may then set its byte order."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<numpy dtype {self.dtype}>"

    def build(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in "<>|="):
            raise CheckpointError("malformed numpy dtype state")
        if any(part is not None for part in state[2:5]):
            raise CheckpointError("structured numpy dtypes are not supported")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class NumpyArray:
    """``_reconstruct(ndarray, ...)``: an empty array until BUILD gives its data."""

    __slots__ = ("array", "memo_keys")

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.memo_keys: list[int] = []

    def __repr__(self) -> str:
        return "<numpy array awaiting its data>"

    def build(self, state: Any) -> np.ndarray:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise CheckpointError("malformed numpy array state")
        _, shape, dtype, fortran, raw = state
        dtype = _dtype_of(dtype)
        if not (isinstance(shape, tuple) and len(shape) <= 64
                and all(type(n) is int and n >= 0 for n in shape)):
            raise CheckpointError(f"numpy array with a bad shape {str(shape)[:60]}")
        if isinstance(raw, str):  # protocol 0/1 write the bytes as a latin-1 string
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)):
            raise CheckpointError("numpy array data is not bytes")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(f"numpy array of shape {shape} and dtype {dtype} with "
                                  f"{len(raw)} bytes of data")
        flat = np.frombuffer(bytearray(raw), dtype=dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C")
        return self.array


def _dtype_of(value: Any) -> np.dtype:
    if not isinstance(value, NumpyDtype):
        raise CheckpointError("numpy value without a dtype")
    return value.dtype


def numpy_dtype(spec: Any, align: Any = False, copy: Any = True) -> NumpyDtype:
    if not isinstance(spec, str) or not _SIMPLE.match(spec):
        raise CheckpointError(f"numpy dtype {str(spec)[:20]!r} is not a plain numeric type")
    return NumpyDtype(np.dtype(spec))


def numpy_scalar(dtype: Any, raw: Any = b"") -> Any:
    dtype = _dtype_of(dtype)
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise CheckpointError(f"numpy scalar of dtype {dtype} with bad data")
    return np.frombuffer(raw, dtype=dtype)[0]


def numpy_reconstruct(cls: Any, shape: Any = (0,), typecode: Any = b"b") -> NumpyArray:
    if getattr(cls, "qualname", None) != "numpy.ndarray":
        raise CheckpointError(f"numpy _reconstruct of {cls!r}")
    return NumpyArray()
