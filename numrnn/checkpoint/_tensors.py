"""Torch dtypes and storages as NumPy, and tensors as checked views of storages.

A torch tensor is ``(storage, offset, size, stride)``; here the storage is a 1-D
NumPy array and the tensor a strided view of it, so tensors that share a storage
share memory, exactly as in torch. Every geometry is checked against the storage
before a view is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._errors import CheckpointError

__all__ = ["TORCH_DTYPES", "STORAGE_DTYPES", "TorchDtype", "Storage", "make_tensor",
           "bfloat16_to_float32", "FLOAT8_TABLES"]

MAX_DIMS = 64  # NumPy's limit


@dataclass(frozen=True)
class TorchDtype:
    """A torch dtype as named in pickles (``torch.float32``), with its file layout.

    ``code`` is the little-endian NumPy code of the bytes on disk; ``numpy`` the
    dtype the loaded array gets (different only for bfloat16 and complex32).
    """

    name: str
    code: str
    numpy: np.dtype

    @property
    def itemsize(self) -> int:
        return np.dtype(self.code).itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _dt(name: str, code: str, numpy_code: str | None = None) -> TorchDtype:
    return TorchDtype(name, code, np.dtype(numpy_code or code))


# name in torch -> (bytes on disk, NumPy dtype of the result)
TORCH_DTYPES: dict[str, TorchDtype] = {d.name: d for d in [
    _dt("float64", "<f8"), _dt("float32", "<f4"), _dt("float16", "<f2"),
    _dt("bfloat16", "<u2", "<f4"), _dt("complex32", "<u4", "<c8"),
    _dt("complex64", "<c8"), _dt("complex128", "<c16"),
    _dt("int64", "<i8"), _dt("int32", "<i4"), _dt("int16", "<i2"), _dt("int8", "i1"),
    _dt("uint64", "<u8"), _dt("uint32", "<u4"), _dt("uint16", "<u2"), _dt("uint8", "u1"),
    _dt("bool", "?"),
    _dt("float8_e4m3fn", "u1", "<f4"), _dt("float8_e5m2", "u1", "<f4"),
]}

# legacy typed storage class -> dtype name (torch.FloatStorage, torch.cuda.FloatStorage)
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32, exactly: bf16 is float32's top half."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _float8_e4m3fn_table() -> np.ndarray:
    """All 256 float8 e4m3fn values as float32: 1 sign, 4 exponent (bias 7), 3 mantissa
    bits; no infinities, NaN at S.1111.111."""
    bits = np.arange(256)
    sign = np.where(bits & 0x80, -1.0, 1.0)
    exponent, mantissa = (bits >> 3) & 0xF, bits & 0x7
    value = np.where(exponent == 0, mantissa / 8 * 2.0**-6,
                     (1 + mantissa / 8) * 2.0 ** (exponent - 7))
    value = np.where((exponent == 0xF) & (mantissa == 0x7), np.nan, value)
    return (sign * value).astype(np.float32)


# float8 bit pattern (uint8) -> float32, exactly; e5m2 is float16's top byte
FLOAT8_TABLES: dict[str, np.ndarray] = {
    "float8_e4m3fn": _float8_e4m3fn_table(),
    "float8_e5m2": (np.arange(256, dtype=np.uint16) << 8).view(np.float16).astype(np.float32),
}


@dataclass(eq=False)
class Storage:
    """One storage record: its raw bytes and, for typed storages, its dtype.

    ``typed(dtype)`` gives the 1-D array of elements, cached so that all tensors
    on this storage are views of one array.
    """

    key: str
    dtype: TorchDtype | None  # None: UntypedStorage, dtype comes with each tensor
    numel: int  # elements for typed storages, bytes for untyped ones
    raw: np.ndarray | None = field(default=None, repr=False)  # uint8 bytes, from the reader
    big_endian: bool = False
    memmapped: bool = False
    _typed: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def nbytes(self) -> int:
        return self.numel * (self.dtype.itemsize if self.dtype else 1)

    def typed(self, dtype: TorchDtype) -> np.ndarray:
        if dtype.name in self._typed:
            return self._typed[dtype.name]
        raw = self.raw
        if raw is None:
            raise CheckpointError(f"storage {self.key!r} has no data")
        if raw.size % dtype.itemsize:
            raise CheckpointError(f"storage {self.key!r}: {raw.size} bytes is not a whole "
                                  f"number of {dtype!r} elements")
        disk = np.dtype(dtype.code).newbyteorder(">" if self.big_endian else "<")
        flat = raw.view(disk)
        if dtype.name == "bfloat16":
            flat = bfloat16_to_float32(flat)
        elif dtype.name in FLOAT8_TABLES:
            flat = FLOAT8_TABLES[dtype.name][flat]
        elif dtype.name == "complex32":  # two float16s -> complex64, exact
            halves = raw.view(np.dtype("<f2").newbyteorder(">" if self.big_endian else "<"))
            flat = halves.astype(np.float32).view(np.complex64)
        elif dtype.name == "bool" and flat.size and raw.max() > 1:
            flat = raw != 0  # bytes other than 0/1 are not valid NumPy bools
        elif self.big_endian and disk.itemsize > 1:
            flat = flat.astype(dtype.numpy)
        elif not flat.flags.aligned and flat.flags.writeable:
            flat = flat.copy()  # legacy files pack storages unaligned; NumPy prefers aligned
        self._typed[dtype.name] = flat
        return flat


def _int(value: object, what: str) -> int:
    if type(value) is not int:
        raise CheckpointError(f"tensor {what} must be an int, got {type(value).__name__}")
    return value


def _ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise CheckpointError(f"tensor {what} must be a tuple, got {type(value).__name__}")
    if len(value) > MAX_DIMS:
        raise CheckpointError(f"tensor has {len(value)} dimensions, at most {MAX_DIMS}")
    return tuple(_int(v, what) for v in value)


def make_tensor(storage: object, offset: object, size: object, stride: object,
                dtype: TorchDtype | None = None, metadata: object = None) -> np.ndarray:
    """The array torch would build with ``tensor.set_(storage, offset, size, stride)``.

    The view's extent ``offset + sum((size[k] - 1) * stride[k])`` must lie inside the
    storage; negative offsets, sizes or strides are refused.
    """
    if not isinstance(storage, Storage):
        raise CheckpointError(f"tensor storage is a {type(storage).__name__}, not a storage")
    dtype = dtype if dtype is not None else storage.dtype
    if not isinstance(dtype, TorchDtype):
        raise CheckpointError(f"tensor on storage {storage.key!r} has no valid dtype")
    offset = _int(offset, "storage offset")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {size} and stride {stride} differ in length")
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CheckpointError(f"negative offset, size or stride: {offset}, {size}, {stride}")
    flat = storage.typed(dtype)
    if math.prod(size) == 0:
        if offset > flat.size:
            raise CheckpointError(f"storage offset {offset} past storage of {flat.size}")
        return np.zeros(size, dtype=flat.dtype)
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if extent >= flat.size:
        raise CheckpointError(f"tensor of size {size}, stride {stride} at offset {offset} "
                              f"runs past its storage of {flat.size} elements")
    item = flat.dtype.itemsize
    array = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=[s * item for s in stride],
        writeable=flat.flags.writeable)
    if isinstance(metadata, dict):
        if metadata.get("conj"):
            array = np.conj(array)
        if metadata.get("neg"):
            array = np.negative(array)
    if storage.memmapped and not array.flags.writeable:
        array = array.view(np.memmap)
    return array
