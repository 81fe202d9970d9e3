"""numrnn.packing against torch.nn.utils.rnn: PackedSequence and the pack/pad utilities (issue 5).

Packing only moves values, so every comparison is exact (``np.array_equal``), including the
dtype of the data, the packed row order, ``batch_sizes`` and the sorted/unsorted indices.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as tr
from hypothesis import given
from hypothesis import strategies as st

from numrnn.packing import (
    PackedSequence,
    _as_packed,
    _lengths_from_batch_sizes,
    _libstdcxx_sort_descending,
    _packed_offsets,
    _permute_hidden,
    _sort_descending,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

DTYPES = (np.float32, np.float64)
PADDING_VALUES = (0.0, -1.0, 2.5, float("nan"), float("-inf"))


# --------------------------------------------------------------------------- helpers


def t2n(t):
    return None if t is None else t.detach().cpu().numpy()


def assert_same_array(actual, expected, dtype=None):
    """numrnn array == torch tensor/array exactly: type, dtype, shape and values (NaN == NaN)."""
    expected = t2n(expected) if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert isinstance(actual, np.ndarray), f"expected np.ndarray, got {type(actual).__name__}"
    assert actual.dtype == (expected.dtype if dtype is None else dtype), (
        f"dtype {actual.dtype} != {expected.dtype}"
    )
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    assert np.array_equal(actual, expected, equal_nan=actual.dtype.kind in "fc")


def assert_same_packed(actual, expected):
    """A numrnn PackedSequence equals torch's field by field."""
    assert isinstance(actual, PackedSequence)
    assert isinstance(actual, tuple) and len(actual) == 4
    assert_same_array(actual.data, expected.data)
    assert_same_array(actual.batch_sizes, expected.batch_sizes, dtype=np.int64)
    for name in ("sorted_indices", "unsorted_indices"):
        got, want = getattr(actual, name), getattr(expected, name)
        if want is None:
            assert got is None, f"{name}: expected None, got {got}"
        else:
            assert_same_array(got, want, dtype=np.int64)


@st.composite
def padded_batches(draw, *, max_batch=24, max_len=10, sorted_lengths=None):
    """(x, lengths, batch_first, enforce_sorted): a padded batch and its true lengths.

    x is (T, B, *) or (B, T, *) with 0-2 trailing dims; T may exceed max(lengths).
    Batches reach past 16 sequences with few distinct lengths, so ties go through the
    non-stable part of torch's sort.
    """
    batch = draw(st.integers(1, max_batch))
    max_length = draw(st.integers(1, max_len))
    lengths = np.array(
        draw(st.lists(st.integers(1, max_length), min_size=batch, max_size=batch)), np.int64
    )
    enforce_sorted = draw(st.booleans()) if sorted_lengths is None else sorted_lengths
    if enforce_sorted:
        lengths = np.sort(lengths)[::-1].copy()
    steps = int(lengths.max()) + draw(st.integers(0, 2))
    trailing = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    batch_first = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    shape = ((batch, steps) if batch_first else (steps, batch)) + trailing
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return x, lengths, batch_first, enforce_sorted


@st.composite
def sequence_lists(draw, *, min_length=1, max_batch=24):
    """A list of (L_i, *) arrays sharing trailing dims and dtype."""
    batch = draw(st.integers(1, max_batch))
    max_length = draw(st.integers(max(min_length, 1), 8))
    lengths = draw(st.lists(st.integers(min_length, max_length), min_size=batch, max_size=batch))
    trailing = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [rng.standard_normal((n,) + trailing).astype(dtype) for n in lengths]


# --------------------------------------------------------------------------- pack_padded_sequence


@given(padded_batches())
def test_pack_padded_sequence_matches_torch(case):
    x, lengths, batch_first, enforce_sorted = case
    got = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    want = tr.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), batch_first, enforce_sorted
    )
    assert_same_packed(got, want)


@given(padded_batches(max_batch=6))
def test_pack_padded_sequence_accepts_torch_tensors_and_lists(case):
    x, lengths, batch_first, enforce_sorted = case
    tx = torch.from_numpy(x).requires_grad_(True)
    want = tr.pack_padded_sequence(tx.detach(), lengths.tolist(), batch_first, enforce_sorted)
    for lens in (lengths.tolist(), torch.from_numpy(lengths), lengths.astype(np.int32)):
        got = pack_padded_sequence(tx, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
        assert_same_packed(got, want)
    got = pack_padded_sequence(x.tolist(), lengths.astype(np.float64), batch_first, enforce_sorted)
    assert_same_array(got.data, want.data.double())


def test_pack_padded_sequence_bfloat16_becomes_float32():
    x = torch.randn(4, 3, 2).to(torch.bfloat16)
    got = pack_padded_sequence(x, [4, 2, 1])
    want = tr.pack_padded_sequence(x.float(), [4, 2, 1])
    assert_same_packed(got, want)


def test_pack_padded_sequence_keeps_integer_data():
    x = np.arange(12, dtype=np.int64).reshape(4, 3)
    got = pack_padded_sequence(x, [1, 4, 2], enforce_sorted=False)
    assert_same_packed(got, tr.pack_padded_sequence(torch.from_numpy(x), [1, 4, 2], False, False))


# --------------------------------------------------------------------------- pad_packed_sequence


@given(
    padded_batches(),
    st.booleans(),
    st.sampled_from(PADDING_VALUES),
    st.one_of(st.none(), st.integers(0, 3)),
)
def test_pad_packed_sequence_matches_torch(case, out_batch_first, padding_value, extra):
    x, lengths, batch_first, enforce_sorted = case
    total_length = None if extra is None else int(lengths.max()) + extra
    packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    tpacked = tr.pack_padded_sequence(torch.from_numpy(x), lengths, batch_first, enforce_sorted)
    padded, lens = pad_packed_sequence(packed, out_batch_first, padding_value, total_length)
    tpadded, tlens = tr.pad_packed_sequence(tpacked, out_batch_first, padding_value, total_length)
    assert_same_array(padded, tpadded)
    assert_same_array(lens, tlens, dtype=np.int64)
    # torch's own PackedSequence is accepted as well (duck-typed).
    padded2, lens2 = pad_packed_sequence(tpacked, out_batch_first, padding_value, total_length)
    assert_same_array(padded2, tpadded)
    assert_same_array(lens2, tlens, dtype=np.int64)


@given(padded_batches(), st.sampled_from(PADDING_VALUES))
def test_pack_then_pad_round_trip(case, padding_value):
    x, lengths, batch_first, enforce_sorted = case
    packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    steps = x.shape[1] if batch_first else x.shape[0]
    padded, lens = pad_packed_sequence(packed, batch_first, padding_value, total_length=steps)
    assert_same_array(lens, lengths)
    valid = np.arange(steps)[None, :] < lengths[:, None]  # (B, T)
    if not batch_first:
        valid = valid.T
    valid = valid.reshape(valid.shape + (1,) * (x.ndim - 2))
    expected = np.where(valid, x, np.asarray(padding_value, dtype=x.dtype))
    assert_same_array(padded, expected)
    # ... and packing the padded result again gives the same PackedSequence.
    again = pack_padded_sequence(padded, lens, batch_first, enforce_sorted)
    assert_same_packed(again, packed)


def test_pad_packed_sequence_integer_padding_is_cast_like_torch():
    x = np.arange(6, dtype=np.int64).reshape(3, 2)
    padded, lens = pad_packed_sequence(pack_padded_sequence(x, [3, 2]), padding_value=-1.5)
    tpadded, tlens = tr.pad_packed_sequence(
        tr.pack_padded_sequence(torch.from_numpy(x), [3, 2]), padding_value=-1.5
    )
    assert_same_array(padded, tpadded)
    assert_same_array(lens, tlens)


# --------------------------------------------------------------------------- pad/pack_sequence


@given(
    sequence_lists(min_length=0),
    st.booleans(),
    st.sampled_from(PADDING_VALUES),
    st.sampled_from(["right", "left"]),
)
def test_pad_sequence_matches_torch(seqs, batch_first, padding_value, padding_side):
    got = pad_sequence(seqs, batch_first, padding_value, padding_side)
    want = tr.pad_sequence(
        [torch.from_numpy(s) for s in seqs], batch_first, padding_value, padding_side
    )
    assert_same_array(got, want)
    # torch tensors (requiring grad) in, same answer out.
    tensors = [torch.from_numpy(s).requires_grad_(True) for s in seqs]
    assert_same_array(pad_sequence(tensors, batch_first, padding_value, padding_side), want)


@given(sequence_lists(), st.booleans())
def test_pack_sequence_matches_torch(seqs, enforce_sorted):
    if enforce_sorted:
        seqs = sorted(seqs, key=len, reverse=True)
    got = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    want = tr.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=enforce_sorted)
    assert_same_packed(got, want)
    lengths = [len(s) for s in seqs]
    padded = pad_sequence(seqs)
    assert_same_packed(pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted), want)


def test_pad_sequence_promotes_mixed_dtypes_like_numpy():
    seqs = [np.ones((2, 3), np.float32), np.ones((1, 3), np.float64)]
    assert pad_sequence(seqs).dtype == np.float64


def test_pad_sequence_accepts_lists_and_a_stacked_array():
    assert_same_array(
        pad_sequence([[1.0, 2.0, 3.0], [4.0]], padding_value=9.0),
        np.array([[1.0, 4.0], [2.0, 9.0], [3.0, 9.0]]),
    )
    x = np.random.default_rng(0).standard_normal((3, 4, 2))  # (B, L, D)
    assert_same_array(pad_sequence(x, batch_first=True), x)
    assert_same_array(pad_sequence(x), x.transpose(1, 0, 2))


# --------------------------------------------------------------------------- torch's tie order


@given(st.lists(st.integers(1, 6), min_size=1, max_size=200))
def test_sort_descending_matches_torch_sort(lengths):
    lengths = np.array(lengths, dtype=np.int64)
    want = torch.sort(torch.from_numpy(lengths), descending=True).indices.numpy()
    assert_same_array(_sort_descending(lengths), want)


@pytest.mark.parametrize(
    "pattern",
    ["organ_pipe", "ascending", "descending", "all_equal", "alternating", "sawtooth", "random"],
)
def test_sort_descending_matches_torch_on_large_batches(pattern):
    n = 3000
    lengths = {
        "organ_pipe": np.r_[np.arange(1, n // 2 + 1), np.arange(n // 2, 0, -1)],
        "ascending": np.arange(1, n + 1),
        "descending": np.arange(n, 0, -1),
        "all_equal": np.full(n, 7),
        "alternating": np.arange(n) % 2 + 1,
        "sawtooth": np.arange(n) % 37 + 1,
        "random": np.random.default_rng(0).integers(1, 200, n),
    }[pattern].astype(np.int64)
    want = torch.sort(torch.from_numpy(lengths), descending=True).indices.numpy()
    assert_same_array(_sort_descending(lengths), want)
    assert_same_array(_libstdcxx_sort_descending(lengths.tolist()), want)


# --------------------------------------------------------------------------- PackedSequence


def test_packed_sequence_is_a_named_tuple_like_torchs():
    p = PackedSequence(np.arange(3.0), np.array([2, 1]), np.array([1, 0]))
    t = tr.PackedSequence(
        torch.arange(3.0, dtype=torch.float64), torch.tensor([2, 1]), torch.tensor([1, 0])
    )
    assert PackedSequence._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert_same_packed(p, t)
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert_same_array(unsorted_indices, np.array([1, 0]))
    unsorted = tr.PackedSequence(t.data, t.batch_sizes)
    assert_same_packed(PackedSequence((np.arange(3.0), [2, 1])), unsorted)
    assert_same_packed(PackedSequence(*t), t)
    assert_same_packed(pickle.loads(pickle.dumps(p)), t)
    assert repr(p).startswith("PackedSequence(data=array(")


def test_packed_offsets():
    batch_sizes = np.array([3, 3, 2, 1], dtype=np.int64)
    offsets = _packed_offsets(batch_sizes)
    assert_same_array(offsets, np.array([0, 3, 6, 8, 9], dtype=np.int64))
    x = np.arange(4 * 3).reshape(4, 3)
    packed = pack_padded_sequence(x, [4, 3, 2])
    for t in range(4):
        step = packed.data[offsets[t] : offsets[t + 1]]
        assert_same_array(step, x[t, : packed.batch_sizes[t]])


# --------------------------------------------------------------------------- errors


X = np.zeros((5, 3, 2))  # (T=5, B=3, D=2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: pack_padded_sequence(X, [6, 3, 2]), r"lengths must not exceed .*\b5\b.*got.*6"),
        (lambda: pack_padded_sequence(X, [3, 2, 6], enforce_sorted=False), r"lengths must not"),
        (
            lambda: pack_padded_sequence(X, [2, 4, 2, 1, 1], True, enforce_sorted=False),
            r"lengths must not exceed the sequence length of input \(3",
        ),
        (lambda: pack_padded_sequence(X, [5, 3, 0]), r"lengths.*greater than 0.*lengths\[2\] = 0"),
        (lambda: pack_padded_sequence(X, [5, -1, 3], enforce_sorted=False), r"lengths\[1\] = -1"),
        (lambda: pack_padded_sequence(X, [5, 3]), r"lengths.*expected 3.*got 2"),
        (lambda: pack_padded_sequence(X, [5, 3, 2, 1]), r"lengths.*expected 3.*got 4"),
        (lambda: pack_padded_sequence(X, [3, 5, 2]), r"lengths must be sorted in decreasing"),
        (lambda: pack_padded_sequence(X, [[5, 3, 2]]), r"lengths must be 1-D"),
        (lambda: pack_padded_sequence(X, [5.5, 3, 2]), r"lengths must hold whole numbers"),
        (lambda: pack_padded_sequence(np.zeros(5), [5]), r"input must have at least 2 dim"),
        (lambda: pack_padded_sequence(np.zeros((0, 2, 1)), [1, 1]), r"empty batch"),
        (lambda: pack_padded_sequence(np.zeros((3, 0, 1)), []), r"empty batch"),
        (
            lambda: pad_packed_sequence(pack_padded_sequence(X, [5, 3, 2]), total_length=4),
            r"total_length.*expected >= 5, got total_length = 4",
        ),
        (lambda: pack_sequence([np.zeros((1, 2)), np.zeros((3, 2))]), r"decreasing order"),
        (lambda: pack_sequence([np.zeros((3, 2)), np.zeros((0, 2))]), r"sequences\[1\]"),
        (lambda: pack_sequence([]), r"sequences must hold at least one"),
        (lambda: pad_sequence([]), r"sequences must hold at least one"),
        (lambda: pad_sequence([np.zeros((3, 2)), np.zeros((2, 3))]), r"sequences\[1\] of shape"),
        (lambda: pad_sequence([np.float64(1.0), np.float64(2.0)]), r"sequences\[0\] must be"),
        (lambda: pad_sequence([np.zeros(2)], padding_side="middle"), r"padding_side"),
        (lambda: PackedSequence(np.zeros(4), np.array([2, 1])), r"data must have .*3 rows"),
        (lambda: PackedSequence(np.zeros(3), np.array([1, 2])), r"batch_sizes must be non-inc"),
        (lambda: PackedSequence(np.zeros(3), np.array([3, 0])), r"batch_sizes.*greater than 0"),
        (lambda: PackedSequence(np.zeros(0), np.array([], np.int64)), r"batch_sizes must not"),
        (lambda: PackedSequence(np.zeros(3), [2, 1], [0, 0]), r"sorted_indices must be a perm"),
        (lambda: PackedSequence(np.zeros(3), [2, 1], None, [2, 0]), r"unsorted_indices must be"),
    ],
)
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: pack_padded_sequence(X, [True, True, False]), r"lengths must hold integers"),
        (lambda: pack_padded_sequence(np.array([["a"]]), [1]), r"input must hold numbers"),
        (lambda: pad_packed_sequence((np.zeros(3), [2, 1])), r"sequence must be a PackedSeq"),
        (lambda: pad_sequence([np.zeros(2), np.array(["x"])]), r"sequences\[1\] must hold"),
    ],
)
def test_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_unsorted_error_message_matches_torch_advice():
    with pytest.raises(ValueError, match="enforce_sorted=False") as info:
        pack_padded_sequence(X, [2, 3, 1])
    assert "[2 3 1]" in str(info.value)


def test_layer_helpers():
    t = tr.pack_sequence([torch.ones(2, 3), torch.ones(4, 3)], enforce_sorted=False)
    ours = _as_packed(t)
    assert isinstance(ours, PackedSequence)
    assert_same_packed(ours, t)
    assert _as_packed(ours) is ours
    assert _as_packed(np.zeros((3, 2))) is None
    assert _as_packed((np.zeros(3), np.array([2, 1]))) is None
    hx = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    assert _permute_hidden(hx, None) is hx
    assert_same_array(_permute_hidden(hx, np.array([2, 0, 1])), hx[:, [2, 0, 1]])
    assert_same_array(_lengths_from_batch_sizes(np.array([3, 2, 2, 1])), np.array([4, 3, 1]))
