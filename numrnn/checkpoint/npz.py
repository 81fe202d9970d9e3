"""NumPy ``.npy`` and ``.npz`` files, read with ``allow_pickle=False`` semantics.

The ``.npy`` header is parsed by NumPy's own header reader (a literal, never a
pickle); the array's size is then checked against the bytes really present
before anything is allocated, unlike ``np.load`` on a file object.
"""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from typing import IO

import numpy as np

from ._errors import CheckpointError
from ._source import Source
from ._zip import ZipEntry, read_entry

__all__ = ["is_npy", "load_npy", "load_npz", "is_npz", "save_npz"]

_MAGIC = b"\x93NUMPY"


def is_npy(source: Source) -> bool:
    return source.bytes(0, min(6, len(source))) == _MAGIC


def is_npz(entries: dict[str, ZipEntry]) -> bool:
    return bool(entries) and all(name.endswith(".npy") for name in entries)


def _parse_npy(raw: np.ndarray, memmapped: bool, what: str) -> np.ndarray:
    head = io.BytesIO(raw[:min(raw.size, 65536 + 12)].tobytes())
    try:
        with warnings.catch_warnings():  # e.g. "created on Python 2": still parsed safely
            warnings.simplefilter("ignore")
            version = np.lib.format.read_magic(head)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(head)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except Exception as error:  # NumPy's header parser: tokenize, literal_eval, dtype ...
        raise CheckpointError(f"{what}: bad .npy header: {error}") from None
    if dtype.hasobject:
        raise CheckpointError(f"{what}: object arrays need pickle, which is refused")
    start = head.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if start + nbytes != raw.size:
        raise CheckpointError(f"{what}: header says {nbytes} bytes of data, "
                              f"the file has {raw.size - start}")
    flat = raw[start:].view(dtype) if dtype.itemsize else np.zeros(0, dtype)
    array = flat.reshape(shape, order="F" if fortran else "C")
    if memmapped and not array.flags.writeable:
        array = array.view(np.memmap)
    return array


def load_npy(source: Source) -> np.ndarray:
    return _parse_npy(source.data, source.memmapped, ".npy file")


def load_npz(source: Source, entries: dict[str, ZipEntry]) -> dict[str, np.ndarray]:
    """Every array of an .npz, by name without the ``.npy`` suffix."""
    arrays = {}
    for name, entry in entries.items():
        raw, is_view = read_entry(source, entry)
        arrays[name[:-len(".npy")]] = _parse_npy(raw, is_view and source.memmapped, name)
    return arrays


def save_npz(tensors: dict[str, np.ndarray], f: IO[bytes]) -> None:
    """Write a flat ``{name: array}`` as an uncompressed .npz (so it can be mmap-ed).

    Byte for byte what ``np.savez`` writes, except for fixed timestamps, so the
    same arrays always give the same file.
    """
    for name, array in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"npz names must be strings, got {name!r}")
        if array.dtype.hasobject:
            raise TypeError(f"{name!r}: object arrays cannot be saved without pickle")
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in tensors.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
