"""Variable-length batches: ``PackedSequence`` and the pack/pad utilities of ``torch.nn.utils.rnn``.

Symbols: ``B`` batch size, ``T`` longest length, ``N = lengths.sum()`` packed rows,
``*`` any trailing feature dims.

The packed layout is torch's. Sequences are ordered by decreasing length (``sorted_indices``
maps sorted position -> original batch index). ``data`` is time-major: step ``t`` occupies the
rows ``offsets[t] : offsets[t] + batch_sizes[t]`` (see :func:`_packed_offsets`), one row per
sequence still running at step ``t``, in sorted order. Because the lengths decrease, the
sequences alive at step ``t`` are always the first ``batch_sizes[t]`` sorted ones.

Example::

    >>> x = np.arange(6.0).reshape(3, 2)          # (T=3, B=2)
    >>> p = pack_padded_sequence(x, [3, 1])
    >>> p.data, p.batch_sizes
    (array([0., 1., 2., 4.]), array([2, 1, 1]))
    >>> pad_packed_sequence(p, padding_value=-1)[0]
    array([[ 0.,  1.],
           [ 2., -1.],
           [ 4., -1.]])

Packing never changes the dtype of the data (integers pack too, as in torch); the
recurrent layers convert to their own dtype. NumPy only: torch tensors are accepted
(duck-typed) and never imported.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from ._arrays import as_array

__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pack_sequence",
    "pad_sequence",
]

# libstdc++'s std::sort switches to insertion sort below this many elements.
_STD_SORT_THRESHOLD = 16


# --------------------------------------------------------------------------- conversion


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Any array-like (torch tensors included, without importing torch) -> ``np.ndarray``."""
    try:
        arr = as_array(x)  # torch tensors too, without importing torch
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}: {exc}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def _as_lengths(lengths: Any, name: str = "lengths") -> np.ndarray:
    """Sequence lengths as a 1-D int64 array (whole-number floats accepted, as torch does)."""
    arr = _to_numpy(lengths, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "bc":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ValueError(f"{name} must hold whole numbers, got {arr}")
    return arr.astype(np.int64)


def _invert_permutation(permutation: np.ndarray) -> np.ndarray:
    """``inv`` with ``inv[permutation[i]] = i`` (torch's ``invert_permutation``)."""
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(permutation.shape[0], dtype=permutation.dtype)
    return inverse


# --------------------------------------------------------------------------- tie order


def _sort_descending(lengths: np.ndarray) -> np.ndarray:
    """Indices sorting ``lengths`` (B,) by decreasing value, ties ordered exactly as torch.

    ``pack_padded_sequence(..., enforce_sorted=False)`` calls ``torch.sort(lengths,
    descending=True)``, which on CPU is ``std::sort`` -- not stable. Equal lengths therefore
    land in an order that only the algorithm defines, and that order is visible in
    ``sorted_indices`` and in ``data``. Without ties, or with at most 16 elements (pure
    insertion sort, which is stable), a stable NumPy argsort gives the same answer;
    otherwise we replay libstdc++'s introsort (the C++ library torch's Linux wheels use).
    """
    n = lengths.shape[0]
    if n <= _STD_SORT_THRESHOLD or np.unique(lengths).shape[0] == n:
        return np.argsort(-lengths, kind="stable").astype(np.int64)
    return _libstdcxx_sort_descending(lengths.tolist())


def _libstdcxx_sort_descending(keys: list[int]) -> np.ndarray:
    """Replay of libstdc++ ``std::sort`` on (key, index) pairs with ``comp = key_a > key_b``.

    Mirrors ``__introsort_loop`` (median-of-three pivot, unguarded partition, heapsort once the
    depth limit ``2*floor(log2 n)`` is spent) followed by ``__final_insertion_sort``. A loop over
    the B sequences is unavoidable here: the order of ties is defined by the element moves.
    """
    k = list(keys)
    idx = list(range(len(k)))
    n = len(k)

    def swap(i: int, j: int) -> None:
        k[i], k[j] = k[j], k[i]
        idx[i], idx[j] = idx[j], idx[i]

    def move_median_to_first(result: int, a: int, b: int, c: int) -> None:
        if k[a] > k[b]:
            if k[b] > k[c]:
                swap(result, b)
            elif k[a] > k[c]:
                swap(result, c)
            else:
                swap(result, a)
        elif k[a] > k[c]:
            swap(result, a)
        elif k[b] > k[c]:
            swap(result, c)
        else:
            swap(result, b)

    def unguarded_partition(first: int, last: int, pivot: int) -> int:
        while True:
            while k[first] > k[pivot]:
                first += 1
            last -= 1
            while k[pivot] > k[last]:
                last -= 1
            if not first < last:
                return first
            swap(first, last)
            first += 1

    def adjust_heap(first: int, hole: int, length: int, vk: int, vi: int) -> None:
        top = child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if k[first + child] > k[first + child - 1]:
                child -= 1
            k[first + hole], idx[first + hole] = k[first + child], idx[first + child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            k[first + hole], idx[first + hole] = k[first + child - 1], idx[first + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2  # __push_heap
        while hole > top and k[first + parent] > vk:
            k[first + hole], idx[first + hole] = k[first + parent], idx[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        k[first + hole], idx[first + hole] = vk, vi

    def heap_sort(first: int, last: int) -> None:
        length = last - first
        for parent in range((length - 2) // 2, -1, -1):  # __make_heap
            adjust_heap(first, parent, length, k[first + parent], idx[first + parent])
        while last - first > 1:  # __sort_heap
            last -= 1
            vk, vi = k[last], idx[last]
            k[last], idx[last] = k[first], idx[first]
            adjust_heap(first, 0, last - first, vk, vi)

    def introsort_loop(first: int, last: int, depth: int) -> None:
        while last - first > _STD_SORT_THRESHOLD:
            if depth == 0:
                heap_sort(first, last)
                return
            depth -= 1
            move_median_to_first(first, first + 1, first + (last - first) // 2, last - 1)
            cut = unguarded_partition(first + 1, last, first)
            introsort_loop(cut, last, depth)
            last = cut

    def linear_insert(pos: int) -> None:
        vk, vi = k[pos], idx[pos]
        while vk > k[pos - 1]:
            k[pos], idx[pos] = k[pos - 1], idx[pos - 1]
            pos -= 1
        k[pos], idx[pos] = vk, vi

    def insertion_sort(first: int, last: int) -> None:
        for i in range(first + 1, last):
            if k[i] > k[first]:
                vk, vi = k[i], idx[i]
                k[first + 1 : i + 1], idx[first + 1 : i + 1] = k[first:i], idx[first:i]
                k[first], idx[first] = vk, vi
            else:
                linear_insert(i)

    introsort_loop(0, n, 2 * (n.bit_length() - 1))
    insertion_sort(0, min(n, _STD_SORT_THRESHOLD))
    for i in range(_STD_SORT_THRESHOLD, n):
        linear_insert(i)
    return np.array(idx, dtype=np.int64)


# --------------------------------------------------------------------------- index arithmetic


def _batch_sizes_from_lengths(sorted_lengths: np.ndarray) -> np.ndarray:
    """(B,) decreasing lengths -> (T,) ``batch_sizes[t] = #{b : lengths[b] > t}``."""
    counts = np.bincount(sorted_lengths, minlength=int(sorted_lengths[0]) + 1)  # (T+1,)
    return (sorted_lengths.shape[0] - np.cumsum(counts)[:-1]).astype(np.int64)


def _lengths_from_batch_sizes(batch_sizes: np.ndarray) -> np.ndarray:
    """(T,) batch sizes -> (B,) sorted lengths: ``lengths[b] = #{t : batch_sizes[t] > b}``."""
    counts = np.bincount(batch_sizes, minlength=int(batch_sizes[0]) + 1)  # (B+1,)
    return (batch_sizes.shape[0] - np.cumsum(counts)[:-1]).astype(np.int64)


def _packed_offsets(batch_sizes: np.ndarray) -> np.ndarray:
    """Start row of every time step in a packed ``data``: (T,) batch sizes -> (T+1,) int64.

    Step ``t`` of a packed batch is ``data[offsets[t]:offsets[t + 1]]``, shape
    ``(batch_sizes[t], *)``: one row per live sequence, in sorted order, and the live ones are
    always the first ``batch_sizes[t]`` rows of a sorted-order state ``h`` of shape (B, H).
    ``offsets[-1] == N``. How a recurrent layer runs one direction over a packed batch::

        offsets = _packed_offsets(batch_sizes)
        xw = data @ w_ih.T + b_ih                  # (N, G*H): one product for all steps
        h = h0.copy()                              # (B, H), sorted order (hx[:, sorted_indices])
        steps = range(T) if forward else reversed(range(T))
        for t in steps:
            lo, hi = offsets[t], offsets[t + 1]
            n = hi - lo                            # live sequences at step t
            h[:n] = cell(xw[lo:hi], h[:n])         # no work on finished/not-yet-started rows
            out[lo:hi] = h[:n]
        # h is now h_n in sorted order: a finished sequence keeps the state of its own last
        # step; in reverse, a sequence starts (from h0) at its own last step. Reorder with
        # h[unsorted_indices] (or hx[:, unsorted_indices] for (L*D, B, H) stacks).
    """
    offsets = np.zeros(batch_sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(batch_sizes, out=offsets[1:])
    return offsets


def _packed_coords(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every packed row n: its time step ``t[n]`` and its sorted batch position ``b[n]``.

    (T,) -> two (N,) int64 arrays, so that ``data[n] == padded_sorted[t[n], b[n]]``.
    """
    steps = np.arange(batch_sizes.shape[0], dtype=np.int64)
    t = np.repeat(steps, batch_sizes)  # (N,)
    b = np.arange(t.shape[0], dtype=np.int64) - _packed_offsets(batch_sizes)[t]  # (N,)
    return t, b


def _permute_hidden(hx: np.ndarray, permutation: Optional[np.ndarray]) -> np.ndarray:
    """``hx[:, permutation]`` for a (L*D, B, H) state stack; identity when ``permutation`` is None.

    torch's ``RNNBase.permute_hidden``: use ``sorted_indices`` on ``hx`` before running a packed
    batch and ``unsorted_indices`` on ``h_n``/``c_n`` afterwards.
    """
    return hx if permutation is None else hx[:, permutation]


def _check_sorted(lengths: np.ndarray, name: str) -> None:
    if lengths.shape[0] > 1 and np.any(lengths[1:] > lengths[:-1]):
        raise ValueError(
            f"{name} must be sorted in decreasing order when enforce_sorted=True, got "
            f"{lengths}. Pass enforce_sorted=False to pack_padded_sequence and/or "
            "pack_sequence to sort them internally."
        )


def _check_positive(lengths: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(lengths <= 0)
    if bad.shape[0]:
        raise ValueError(
            f"{name} must all be greater than 0, got {name}[{int(bad[0])}] = "
            f"{int(lengths[bad[0]])} (all lengths: {lengths})"
        )


# --------------------------------------------------------------------------- PackedSequence


class _PackedSequenceFields(NamedTuple):
    data: np.ndarray
    batch_sizes: np.ndarray
    sorted_indices: Optional[np.ndarray]
    unsorted_indices: Optional[np.ndarray]


class PackedSequence(_PackedSequenceFields):
    """A batch of variable-length sequences in torch's packed layout (a named tuple).

    Fields: ``data`` (N, *) the live rows of every step, time-major; ``batch_sizes`` (T,)
    int64, non-increasing, the number of live sequences per step; ``sorted_indices`` (B,)
    int64 or None, original batch index of each sorted position; ``unsorted_indices`` (B,)
    int64 or None, its inverse. As in torch, ``unsorted_indices`` is computed from
    ``sorted_indices`` when omitted, and ``PackedSequence((data, batch_sizes))`` also works.
    Inputs are converted to NumPy (torch tensors included) and the layout is checked.

    torch counterpart: ``torch.nn.utils.rnn.PackedSequence`` (without the device/dtype
    conversion methods such as ``.to()`` or ``.cuda()``).
    """

    __slots__ = ()

    def __new__(
        cls,
        data: Any,
        batch_sizes: Any = None,
        sorted_indices: Any = None,
        unsorted_indices: Any = None,
    ) -> PackedSequence:
        if batch_sizes is None:  # torch's PackedSequence((data, batch_sizes)) form
            data, batch_sizes = data
        data = _to_numpy(data, "data")
        if data.ndim < 1:
            raise ValueError(f"data must have at least 1 dimension, got shape {data.shape}")
        batch_sizes = _as_lengths(batch_sizes, "batch_sizes")
        if batch_sizes.shape[0] == 0:
            raise ValueError("batch_sizes must not be empty")
        _check_positive(batch_sizes, "batch_sizes")
        if np.any(batch_sizes[1:] > batch_sizes[:-1]):
            raise ValueError(f"batch_sizes must be non-increasing, got {batch_sizes}")
        total = int(batch_sizes.sum())
        if data.shape[0] != total:
            raise ValueError(
                f"data must have batch_sizes.sum() = {total} rows, got shape {data.shape}"
            )
        batch = int(batch_sizes[0])
        if sorted_indices is not None:
            sorted_indices = _as_permutation(sorted_indices, batch, "sorted_indices")
        if unsorted_indices is not None:
            unsorted_indices = _as_permutation(unsorted_indices, batch, "unsorted_indices")
        elif sorted_indices is not None:
            unsorted_indices = _invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)


def _as_permutation(p: Any, batch: int, name: str) -> np.ndarray:
    arr = _as_lengths(p, name)
    if arr.shape[0] != batch or not np.array_equal(np.sort(arr), np.arange(batch)):
        raise ValueError(
            f"{name} must be a permutation of range({batch}) (batch_sizes[0] = {batch}), "
            f"got {arr}"
        )
    return arr


def _as_packed(x: Any) -> Optional[PackedSequence]:
    """``x`` as a numrnn ``PackedSequence`` if it is one (torch's included), else None.

    For the recurrent layers: ``packed = _as_packed(input)`` decides the packed code path
    and accepts a ``torch.nn.utils.rnn.PackedSequence`` too (duck-typed by its fields).
    """
    if isinstance(x, PackedSequence):
        return x
    if isinstance(x, tuple) and all(hasattr(x, f) for f in _PackedSequenceFields._fields):
        return PackedSequence(x.data, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    return None


# --------------------------------------------------------------------------- public utilities


def pack_padded_sequence(
    input: Any,
    lengths: Any,
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch of variable-length sequences.

    ``input`` is (T, B, *), or (B, T, *) with ``batch_first=True``; ``lengths`` (B,) are the
    true lengths, each in ``1..T``. With ``enforce_sorted=True`` the lengths must already be
    decreasing and ``sorted_indices`` is None; otherwise the batch is sorted by decreasing
    length (ties in torch's order). Returns a :class:`PackedSequence` with ``data`` of shape
    (N, *), N = ``lengths.sum()``, in the dtype of ``input``.

    torch counterpart: ``torch.nn.utils.rnn.pack_padded_sequence``. Unlike torch, lengths
    longer than the sequence are an error (torch reads past the tensor).

    Example::

        >>> p = pack_padded_sequence(np.zeros((2, 4, 3)), [1, 4], batch_first=True,
        ...                          enforce_sorted=False)
        >>> p.batch_sizes, p.sorted_indices
        (array([2, 1, 1, 1]), array([1, 0]))
    """
    x = _to_numpy(input, "input")
    if x.ndim < 2:
        layout = "(B, T, *)" if batch_first else "(T, B, *)"
        raise ValueError(f"input must have at least 2 dimensions {layout}, got shape {x.shape}")
    lengths = _as_lengths(lengths)
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if batch == 0 or steps == 0:
        raise ValueError(f"cannot pack an empty batch, got input of shape {x.shape}")
    if lengths.shape[0] != batch:
        raise ValueError(
            f"lengths must have one entry per sequence: expected {batch} (the batch size of "
            f"input {x.shape}), got {lengths.shape[0]}"
        )
    _check_positive(lengths, "lengths")
    if lengths.max() > steps:
        raise ValueError(
            f"lengths must not exceed the sequence length of input ({steps}, input shape "
            f"{x.shape}, batch_first={batch_first}), got max(lengths) = {int(lengths.max())}"
        )
    if enforce_sorted:
        _check_sorted(lengths, "lengths")
        sorted_indices = None
        sorted_lengths = lengths
    else:
        sorted_indices = _sort_descending(lengths)
        sorted_lengths = lengths[sorted_indices]
    batch_sizes = _batch_sizes_from_lengths(sorted_lengths)  # (T',)
    t, b = _packed_coords(batch_sizes)  # (N,), (N,)
    src = b if sorted_indices is None else sorted_indices[b]  # original batch index per row
    data = x[src, t] if batch_first else x[t, src]  # (N, *)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Unpack a :class:`PackedSequence` into a padded batch; the inverse of packing.

    Returns ``(padded, lengths)``: ``padded`` is (T, B, *), or (B, T, *) with
    ``batch_first=True``, in the original batch order and the dtype of ``sequence.data``,
    with ``padding_value`` after each sequence's end; T is ``total_length`` if given (it must
    be at least the longest length) else the longest length. ``lengths`` (B,) int64.

    torch counterpart: ``torch.nn.utils.rnn.pad_packed_sequence``.
    """
    packed = _as_packed(sequence)
    if packed is None:
        raise TypeError(f"sequence must be a PackedSequence, got {type(sequence).__name__}")
    data, batch_sizes = packed.data, packed.batch_sizes
    steps = batch_sizes.shape[0]
    if total_length is not None:
        total_length = operator.index(total_length)
        if total_length < steps:
            raise ValueError(
                "total_length must be at least the length of the longest sequence in the "
                f"input: expected >= {steps}, got total_length = {total_length}"
            )
        steps = total_length
    batch = int(batch_sizes[0])
    lengths = _lengths_from_batch_sizes(batch_sizes)  # (B,) sorted order
    t, b = _packed_coords(batch_sizes)  # (N,), (N,)
    if packed.unsorted_indices is not None:
        # torch returns padded[:, unsorted]: sorted column k lands where unsorted == k.
        b = _invert_permutation(packed.unsorted_indices)[b]
        lengths = lengths[packed.unsorted_indices]
    shape = (batch, steps) if batch_first else (steps, batch)
    padded = np.full(shape + data.shape[1:], padding_value, dtype=data.dtype)
    if batch_first:
        padded[b, t] = data
    else:
        padded[t, b] = data
    return padded, lengths


def _as_sequences(sequences: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """A list of (L_i, *) array-likes -> the arrays and their (B,) int64 lengths."""
    arrays = [_to_numpy(s, f"sequences[{i}]") for i, s in enumerate(sequences)]
    if not arrays:
        raise ValueError("sequences must hold at least one sequence, got an empty list")
    for i, a in enumerate(arrays):
        if a.ndim < 1:
            raise ValueError(f"sequences[{i}] must be at least 1-D (L, *), got shape {a.shape}")
        if a.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"sequences must share their trailing dimensions: expected (L, "
                f"{', '.join(map(str, arrays[0].shape[1:]))}) like sequences[0], got "
                f"sequences[{i}] of shape {a.shape}"
            )
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    return arrays, lengths


def pad_sequence(
    sequences: Sequence[Any],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> np.ndarray:
    """Stack variable-length sequences (each (L_i, *)) into one padded array.

    Returns (T, B, *), or (B, T, *) with ``batch_first=True``, T = max L_i, filled with
    ``padding_value`` after (``padding_side='right'``) or before (``'left'``) each sequence.
    Zero-length sequences are allowed.

    torch counterpart: ``torch.nn.utils.rnn.pad_sequence``. Sequences of different dtypes are
    promoted as ``np.concatenate`` does (torch casts them to the first one's dtype).
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    arrays, lengths = _as_sequences(sequences)
    flat = np.concatenate(arrays)  # (N, *)
    batch, steps = lengths.shape[0], int(lengths.max())
    b = np.repeat(np.arange(batch, dtype=np.int64), lengths)  # (N,)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # (B,)
    t = np.arange(flat.shape[0], dtype=np.int64) - starts[b]  # (N,)
    if padding_side == "left":
        t += (steps - lengths)[b]
    shape = (batch, steps) if batch_first else (steps, batch)
    padded = np.full(shape + flat.shape[1:], padding_value, dtype=flat.dtype)
    if batch_first:
        padded[b, t] = flat
    else:
        padded[t, b] = flat
    return padded


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of variable-length sequences (each (L_i, *), L_i >= 1).

    Equivalent to ``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)``
    without building the padded array. With ``enforce_sorted=True`` the sequences must be in
    decreasing length order.

    torch counterpart: ``torch.nn.utils.rnn.pack_sequence``.
    """
    arrays, lengths = _as_sequences(sequences)
    bad = np.flatnonzero(lengths == 0)
    if bad.shape[0]:
        raise ValueError(
            f"sequences must all have length greater than 0, got sequences[{int(bad[0])}] "
            f"of shape {arrays[bad[0]].shape}"
        )
    if enforce_sorted:
        _check_sorted(lengths, "the sequence lengths")
        sorted_indices = None
        sorted_lengths = lengths
    else:
        sorted_indices = _sort_descending(lengths)
        sorted_lengths = lengths[sorted_indices]
    flat = np.concatenate(arrays)  # (N, *)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))  # (B,)
    batch_sizes = _batch_sizes_from_lengths(sorted_lengths)  # (T,)
    t, b = _packed_coords(batch_sizes)  # (N,), (N,)
    src = b if sorted_indices is None else sorted_indices[b]
    return PackedSequence(flat[starts[src] + t], batch_sizes, sorted_indices, None)
