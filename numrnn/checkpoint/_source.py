"""The bytes of a checkpoint: read into one writable buffer, or memory-mapped."""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import IO, Union

import numpy as np

from ._errors import CheckpointError

__all__ = ["Source", "open_source"]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


@dataclass
class Source:
    """A whole checkpoint file as a NumPy uint8 array.

    Writable (a private copy) unless memory-mapped, in which case it is a
    read-only view of the file and arrays sliced from it are memory maps too.
    """

    data: np.ndarray
    memmapped: bool

    def __len__(self) -> int:
        return self.data.size

    def view(self, start: int, stop: int) -> np.ndarray:
        """Bytes ``[start, stop)``; refused if the range is not inside the file."""
        if not 0 <= start <= stop <= self.data.size:
            raise CheckpointError(f"byte range [{start}, {stop}) is outside the file "
                                  f"of {self.data.size} bytes")
        return self.data[start:stop]

    def bytes(self, start: int, stop: int) -> bytes:
        return self.view(start, stop).tobytes()


def open_source(f: PathOrFile, *, mmap_mode: bool) -> Source:
    """Read ``f`` (a path, or a binary file object from its current position)."""
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "rb") as handle:
            return _from_handle(handle, mmap_mode)
    if not hasattr(f, "read"):
        raise TypeError(f"expected a path or a binary file object, got {type(f).__name__}")
    if mmap_mode and _is_real_file(f) and f.tell() == 0:
        return _from_handle(f, True)
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("the file object must be opened in binary mode")
    return Source(np.frombuffer(bytearray(data), dtype=np.uint8), memmapped=False)


def _is_real_file(f: IO[bytes]) -> bool:
    try:
        f.fileno()
        return True
    except (OSError, AttributeError, ValueError):
        return False


def _from_handle(handle: IO[bytes], mmap_mode: bool) -> Source:
    size = os.fstat(handle.fileno()).st_size
    if mmap_mode and size > 0:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return Source(np.frombuffer(mapped, dtype=np.uint8), memmapped=True)
    buffer = np.empty(size, dtype=np.uint8)  # not zero-filled: every byte is read over
    view, done = memoryview(buffer), 0
    while done < size:  # the file may shrink under us: stop at its real end
        n = handle.readinto(view[done:])
        if not n:
            break
        done += n
    return Source(buffer[:done], memmapped=False)
