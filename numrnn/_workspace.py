"""Scratch buffers kept from one call to the next.

A forward pass needs work buffers of several MiB (the projected input of a chunk of
steps, the chunk's feature-major output, the gate buffers). Fresh ones cost more than
their size suggests: allocations of that size come from new pages that the kernel zeroes
on first touch, inside the GEMM that writes them, and whether glibc hands out new pages
or reuses freed ones depends on what the process did before. Measured on the `wide` RNN
cell (N=64, T=200, H=256): the input projection took 5.4-6.0 ms in fresh buffers against
3.3 ms in reused ones, and the whole forward 28.9 ms against 18.7 ms.

So every forward borrows a ``Workspace`` from a process-wide pool and gives it back. A
workspace hands out its slots in order (``empty``), each slot a byte buffer grown to the
largest size ever asked of it; ``reset`` makes the slots available again. Concurrent
calls borrow different workspaces, so modules stay safe to share between threads. Memory
kept: at most ``KEEP_BYTES`` per slot (larger requests, and those under ``SMALL_BYTES``,
get a fresh array every time), a handful of slots per workspace, one workspace per thread
that ran a forward at once. A run must ask for a fixed number of buffers, whatever the
length of the sequence (buffers for a chunk of steps are made once, for the longest
chunk): every request takes a slot until the next ``reset``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

__all__ = ["Workspace", "KEEP_BYTES", "SMALL_BYTES", "borrow"]

KEEP_BYTES = 32 << 20
# Below glibc's default mmap threshold, allocations come from the heap's free lists, with
# no page to fault in, and np.empty is cheaper than a slot (the one-step `stream` calls
# of a small layer made 5 slot requests per call for ~4 µs of their 27 µs).
SMALL_BYTES = 128 << 10


class Workspace:
    """Slots of scratch memory handed out in order, reused after ``reset``."""

    def __init__(self) -> None:
        self._slots: list[np.ndarray] = []
        self._next = 0

    def reset(self) -> None:
        """Every slot is free again (the arrays handed out before must no longer be used)."""
        self._next = 0

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised C-contiguous array, like ``np.empty``, in the next free slot."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if not SMALL_BYTES <= nbytes <= KEEP_BYTES:
            return np.empty(shape, dtype)
        k = self._next
        self._next += 1
        if k == len(self._slots):
            self._slots.append(np.empty(0, np.uint8))
        slot = self._slots[k]
        if slot.nbytes < nbytes:
            slot = self._slots[k] = np.empty(nbytes, np.uint8)
        return slot[:nbytes].view(dtype).reshape(shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by the slots."""
        return sum(slot.nbytes for slot in self._slots)


_POOL: list[Workspace] = []


@contextmanager
def borrow() -> Iterator[Workspace]:
    """A workspace of the pool (a new one when all are in use), returned on exit."""
    try:
        ws = _POOL.pop()  # atomic: two threads never get the same workspace
    except IndexError:
        ws = Workspace()
    try:
        yield ws
    finally:
        ws.reset()
        _POOL.append(ws)
