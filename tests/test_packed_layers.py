"""Packed input through numrnn.RNN / LSTM / GRU against torch (issue 5).

Contract under test (API.md, "Variable-length sequences"): ``layer(packed, hx)`` returns
``(PackedSequence, h_n)`` (``(PackedSequence, (h_n, c_n))`` for LSTM), where

* the output's ``data`` is (N, D*H_out) in the input's packed row order, and its
  ``batch_sizes``, ``sorted_indices`` and ``unsorted_indices`` are the input's;
* ``hx``/``h_n``/``c_n`` are (num_layers*D, B, H) in the *original* batch order: hx is
  permuted with ``sorted_indices`` on the way in and h_n/c_n with ``unsorted_indices`` on
  the way out (torch's ``permute_hidden``);
* each sequence's h_n is its state at its own last step, and the reverse direction of a
  bidirectional layer starts at each sequence's own last step.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as tr
from _torch_ref import assert_close, pair, to_torch
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import packing

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")


def layer_kwargs(mode: str, proj_size: int = 0) -> tuple[str, dict]:
    """torch/numrnn class name and the mode-specific constructor arguments."""
    if mode.startswith("RNN"):
        return "RNN", {"nonlinearity": mode[4:].lower()}
    if mode == "LSTM":
        return "LSTM", {"proj_size": proj_size}
    return "GRU", {}


@st.composite
def packed_cases(draw, modes=MODES):
    mode = draw(st.sampled_from(modes))
    H = draw(st.integers(1, 8))
    return dict(
        mode=mode,
        B=draw(st.integers(1, 20)),  # > 16 with repeated lengths: torch's non-stable tie order
        T=draw(st.integers(1, 10)),
        D=draw(st.integers(1, 8)),
        H=H,
        proj_size=draw(st.integers(0, H - 1)) if mode == "LSTM" else 0,
        num_layers=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        layer_batch_first=draw(st.booleans()),  # ignored for packed input, as in torch
        pack_batch_first=draw(st.booleans()),
        enforce_sorted=draw(st.booleans()),
        with_hx=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def make_packed_case(
    *, mode, B, T, D, H, proj_size, num_layers, bias, bidirectional, layer_batch_first,
    pack_batch_first, enforce_sorted, with_hx, dtype, seed,
):
    """Equal torch and numrnn layers, a padded batch with random lengths, and initial states."""
    rng = np.random.default_rng(seed)
    name, extra = layer_kwargs(mode, proj_size)
    t_layer, n_layer = pair(
        name, D, H, dtype=dtype, rng=rng, num_layers=num_layers, bias=bias,
        batch_first=layer_batch_first, bidirectional=bidirectional, **extra,
    )
    lengths = rng.integers(1, T + 1, size=B)
    if enforce_sorted:
        lengths = np.sort(lengths)[::-1].copy()
    shape = (B, T, D) if pack_batch_first else (T, B, D)
    x = rng.standard_normal(shape).astype(dtype)
    hx = None
    if with_hx:
        states = num_layers * (2 if bidirectional else 1)
        h0 = rng.standard_normal((states, B, proj_size or H)).astype(dtype)
        hx = (h0, rng.standard_normal((states, B, H)).astype(dtype)) if name == "LSTM" else h0
    return t_layer, n_layer, x, lengths, hx


def run_torch(t_layer, x, lengths, hx, *, batch_first, enforce_sorted):
    packed = tr.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), batch_first, enforce_sorted
    )
    if isinstance(hx, tuple):
        hx = tuple(to_torch(h) for h in hx)
    elif hx is not None:
        hx = to_torch(hx)
    with torch.inference_mode():
        return t_layer(packed, hx)


def assert_packed_close(actual, expected, dtype):
    """numrnn PackedSequence vs torch's: data to tolerance, the layout exactly."""
    assert isinstance(actual, packing.PackedSequence), type(actual).__name__
    assert_close(actual.data, expected.data, dtype)
    np.testing.assert_array_equal(actual.batch_sizes, expected.batch_sizes.numpy())
    assert actual.batch_sizes.dtype == np.int64
    for field in ("sorted_indices", "unsorted_indices"):
        got, want = getattr(actual, field), getattr(expected, field)
        if want is None:
            assert got is None, f"{field}: expected None, got {got}"
        else:
            assert isinstance(got, np.ndarray) and got.dtype == np.int64, field
            np.testing.assert_array_equal(got, want.numpy())


def assert_state_close(actual, expected, dtype):
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == 2, type(actual).__name__
        assert_close(actual[0], expected[0], dtype)
        assert_close(actual[1], expected[1], dtype)
    else:
        assert_close(actual, expected, dtype)


def check_packed_case(case):
    t_layer, n_layer, x, lengths, hx = make_packed_case(**case)
    bf, es = case["pack_batch_first"], case["enforce_sorted"]
    out_t, state_t = run_torch(t_layer, x, lengths, hx, batch_first=bf, enforce_sorted=es)

    x_before = x.copy()
    hx_before = None if hx is None else [h.copy() for h in (hx if isinstance(hx, tuple) else [hx])]
    packed = packing.pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=es)
    out_n, state_n = n_layer(packed) if hx is None else n_layer(packed, hx)

    assert_packed_close(out_n, out_t, case["dtype"])
    assert_state_close(state_n, state_t, case["dtype"])
    # The padded view of the output agrees too (original batch order, zeros after each end).
    padded_n, lens_n = packing.pad_packed_sequence(out_n, batch_first=bf)
    padded_t, lens_t = tr.pad_packed_sequence(out_t, batch_first=bf)
    assert_close(padded_n, padded_t, case["dtype"])
    np.testing.assert_array_equal(lens_n, lens_t.numpy())
    # Inputs are left untouched.
    np.testing.assert_array_equal(x, x_before)
    if hx is not None:
        for h, before in zip(hx if isinstance(hx, tuple) else [hx], hx_before):
            np.testing.assert_array_equal(h, before)


# --------------------------------------------------------------------------- parity


@given(packed_cases())
def test_packed_matches_torch(case):
    check_packed_case(case)


@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_packed_matches_torch_per_mode(mode, data):
    check_packed_case(data.draw(packed_cases(modes=(mode,))))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_every_option_combination(mode, bidirectional, with_hx, enforce_sorted, dtype):
    """Each combination once, on a batch with ties and one sequence of the full length."""
    seed = zlib.crc32(repr((mode, bidirectional, with_hx, enforce_sorted, dtype)).encode())
    check_packed_case(
        dict(
            mode=mode, B=19, T=7, D=3, H=5, proj_size=2 if mode == "LSTM" else 0, num_layers=2,
            bias=True, bidirectional=bidirectional, layer_batch_first=False,
            pack_batch_first=bool(seed % 2), enforce_sorted=enforce_sorted, with_hx=with_hx,
            dtype=dtype, seed=seed,
        )
    )


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_equals_each_sequence_run_alone(mode, bidirectional):
    """Per sequence, packed output and h_n equal an unbatched run on that sequence alone."""
    rng = np.random.default_rng(7)
    name, extra = layer_kwargs(mode, proj_size=3 if mode == "LSTM" else 0)
    _, layer = pair(
        name, 4, 6, dtype=np.float64, rng=rng, num_layers=2, bidirectional=bidirectional, **extra
    )
    seqs = [rng.standard_normal((n, 4)) for n in (3, 7, 1, 7, 5)]
    out, state = layer(packing.pack_sequence(seqs, enforce_sorted=False))
    padded, lengths = packing.pad_packed_sequence(out, batch_first=True)
    h_n = state[0] if name == "LSTM" else state
    for b, s in enumerate(seqs):
        out_b, state_b = layer(s)  # unbatched (T, D)
        h_b = state_b[0] if name == "LSTM" else state_b
        assert lengths[b] == len(s)
        np.testing.assert_allclose(padded[b, : len(s)], out_b, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(padded[b, len(s) :], 0.0)
        np.testing.assert_allclose(h_n[:, b], h_b, rtol=1e-12, atol=1e-12)


def test_packed_float64_data_into_float32_layer_is_converted():
    rng = np.random.default_rng(3)
    _, layer = pair("GRU", 3, 4, dtype=np.float32, rng=rng, bidirectional=True)
    x = rng.standard_normal((6, 5, 3))
    lengths = [2, 6, 1, 4, 6]
    out64, h64 = layer(packing.pack_padded_sequence(x, lengths, enforce_sorted=False))
    x32 = x.astype(np.float32)
    out32, h32 = layer(packing.pack_padded_sequence(x32, lengths, enforce_sorted=False))
    assert out64.data.dtype == np.float32 and h64.dtype == np.float32
    np.testing.assert_array_equal(out64.data, out32.data)
    np.testing.assert_array_equal(h64, h32)


def test_packed_hx_with_wrong_batch_size_is_value_error():
    layer = numrnn.LSTM(3, 4, num_layers=2)
    packed = packing.pack_sequence([np.zeros((3, 3)), np.zeros((2, 3))])  # B = 2
    with pytest.raises(ValueError):
        layer(packed, (np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(ValueError):
        numrnn.GRU(3, 4)(packed, np.zeros((1, 1, 4), np.float32))


def test_packed_wrong_feature_size_is_value_error():
    packed = packing.pack_sequence([np.zeros((3, 5)), np.zeros((2, 5))])
    with pytest.raises(ValueError):
        numrnn.RNN(3, 4)(packed)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_torch_packed_sequence_is_accepted_directly(mode):
    """A PackedSequence made by torch's own utilities ports unchanged: same data, same h_n."""
    torch.manual_seed(3)
    ref = getattr(torch.nn, mode)(3, 4, bidirectional=True).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1)
    layer = getattr(numrnn, mode)(3, 4, bidirectional=True, dtype=np.float64)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    padded = torch.randn(6, 3, 3, dtype=torch.float64)
    packed = tr.pack_padded_sequence(padded, [4, 6, 2], enforce_sorted=False)
    with torch.no_grad():
        want_out, want_state = ref(packed)
    out, state = layer(packed)
    assert isinstance(out, packing.PackedSequence)
    np.testing.assert_allclose(out.data, want_out.data.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(out.batch_sizes, want_out.batch_sizes.numpy())
    want_h = want_state[0] if mode == "LSTM" else want_state
    got_h = state[0] if mode == "LSTM" else state
    np.testing.assert_allclose(got_h, want_h.numpy(), rtol=1e-10, atol=1e-10)
