"""nn.RNN and nn.RNNCell against torch.nn.RNN / torch.nn.RNNCell (issue 2)."""

import itertools
import re

import numpy as np
import pytest
import torch
from _torch_ref import (
    assert_close,
    batches,
    dtypes,
    features,
    numpy_state,
    pair,
    seeds,
    seq_lens,
    state_signature,
    to_numpy,
    to_torch,
    torch_layer,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn as nn

pytestmark = pytest.mark.usefixtures("torch_no_grad")


def make_input(rng, T, N, D, *, batch_first, unbatched, dtype):
    if unbatched:
        shape = (T, D)
    elif batch_first:
        shape = (N, T, D)
    else:
        shape = (T, N, D)
    return rng.standard_normal(shape).astype(dtype)


def make_state(rng, num_states, N, H, *, unbatched, dtype):
    shape = (num_states, H) if unbatched else (num_states, N, H)
    return rng.standard_normal(shape).astype(dtype)


def run_rnn_case(
    *, T, N, D, H, num_layers, nonlinearity, bias, batch_first, bidirectional, unbatched,
    with_h0, dtype, seed, dropout=0.0,
):
    rng = np.random.default_rng(seed)
    kwargs = dict(
        num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
        dropout=dropout, bidirectional=bidirectional,
    )
    t, n = pair("RNN", D, H, dtype=dtype, rng=rng, **kwargs)
    x = make_input(rng, T, N, D, batch_first=batch_first, unbatched=unbatched, dtype=dtype)
    num_dirs = 2 if bidirectional else 1
    h0 = (
        make_state(rng, num_layers * num_dirs, N, H, unbatched=unbatched, dtype=dtype)
        if with_h0
        else None
    )
    x_before = x.copy()
    h0_before = None if h0 is None else h0.copy()

    out_t, h_t = t(to_torch(x), None if h0 is None else to_torch(h0))
    if h0 is None:
        out_n, h_n = n(x)
    else:
        out_n, h_n = n(x, h0)

    assert_close(out_n, out_t, dtype)
    assert_close(h_n, h_t, dtype)
    # inputs are not modified in place
    np.testing.assert_array_equal(x, x_before)
    if h0 is not None:
        np.testing.assert_array_equal(h0, h0_before)
    # a fresh numrnn layer has torch's parameter names, order and shapes
    fresh_t = torch.nn.RNN(D, H, **kwargs)
    fresh_n = nn.RNN(D, H, dtype=dtype, **kwargs)
    assert state_signature(fresh_n.state_dict()) == state_signature(fresh_t.state_dict())
    for v in fresh_n.state_dict().values():
        assert isinstance(v, np.ndarray) and v.dtype == np.dtype(dtype)


@st.composite
def rnn_cases(draw):
    num_layers = draw(st.integers(1, 3))
    return dict(
        T=draw(seq_lens), N=draw(batches), D=draw(features), H=draw(features),
        num_layers=num_layers,
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        unbatched=draw(st.booleans()),
        with_h0=draw(st.booleans()),
        dtype=draw(dtypes),
        seed=draw(seeds),
        dropout=draw(st.sampled_from([0.0, 0.5])) if num_layers > 1 else 0.0,
    )


@given(rnn_cases())
def test_rnn_matches_torch(case):
    run_rnn_case(**case)


# Every combination of options at least once, with small random shapes per combination.
OPTION_GRID = list(
    itertools.product(
        [1, 2, 3],  # num_layers
        ["tanh", "relu"],  # nonlinearity
        [True, False],  # bias
        [True, False],  # batch_first
        [True, False],  # bidirectional
        [True, False],  # unbatched
        [True, False],  # with_h0
        ["float32", "float64"],  # dtype
    )
)


@pytest.mark.parametrize(
    "num_layers,nonlinearity,bias,batch_first,bidirectional,unbatched,with_h0,dtype", OPTION_GRID
)
def test_rnn_every_option_combination(
    num_layers, nonlinearity, bias, batch_first, bidirectional, unbatched, with_h0, dtype
):
    index = OPTION_GRID.index(
        (num_layers, nonlinearity, bias, batch_first, bidirectional, unbatched, with_h0, dtype)
    )
    rng = np.random.default_rng(index)
    T, N, D, H = (int(v) for v in rng.integers(1, [13, 6, 9, 9]))
    run_rnn_case(
        T=T, N=N, D=D, H=H, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
        batch_first=batch_first, bidirectional=bidirectional, unbatched=unbatched,
        with_h0=with_h0, dtype=np.dtype(dtype).type, seed=index,
    )


def test_rnn_hx_keyword_and_none_equal_zeros():
    t, n = pair("RNN", 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    h0 = np.random.default_rng(2).standard_normal((4, 2, 4)).astype(np.float32)
    out_t, h_t = t(to_torch(x), to_torch(h0))
    out_n, h_n = n(x, hx=h0)
    assert_close(out_n, out_t)
    assert_close(h_n, h_t)
    out_none, h_none = n(x, None)
    out_zero, h_zero = n(x, np.zeros((4, 2, 4), np.float32))
    out_t0, h_t0 = t(to_torch(x))
    assert_close(out_none, out_t0)
    assert_close(h_none, h_t0)
    np.testing.assert_array_equal(out_none, out_zero)
    np.testing.assert_array_equal(h_none, h_zero)


# ---------------------------------------------------------------------------------------
# RNNCell


@given(
    N=batches, D=features, H=features, nonlinearity=st.sampled_from(["tanh", "relu"]),
    bias=st.booleans(), unbatched=st.booleans(), with_hx=st.booleans(), dtype=dtypes,
    seed=seeds,
)
def test_rnn_cell_matches_torch(N, D, H, nonlinearity, bias, unbatched, with_hx, dtype, seed):
    rng = np.random.default_rng(seed)
    t, n = pair("RNNCell", D, H, bias=bias, nonlinearity=nonlinearity, dtype=dtype, rng=rng)
    x = rng.standard_normal((D,) if unbatched else (N, D)).astype(dtype)
    hx = rng.standard_normal((H,) if unbatched else (N, H)).astype(dtype) if with_hx else None
    expected = t(to_torch(x), None if hx is None else to_torch(hx))
    got = n(x) if hx is None else n(x, hx)
    assert_close(got, expected, dtype)
    assert state_signature(n.state_dict()) == state_signature(t.state_dict())
    assert state_signature(nn.RNNCell(D, H, bias=bias).state_dict()) == state_signature(
        torch.nn.RNNCell(D, H, bias=bias).state_dict()
    )


def test_rnn_cell_errors():
    cell = nn.RNNCell(3, 4)
    with pytest.raises(ValueError, match=r"\b3\b") as info:
        cell(np.zeros((2, 7), np.float32))
    assert re.search(r"\b7\b", str(info.value))
    with pytest.raises(ValueError):
        cell(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError):
        cell(np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError):
        cell(np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.RNNCell(3, 0)


# ---------------------------------------------------------------------------------------
# State dicts


@given(
    D=features, H=features, num_layers=st.integers(1, 3), bias=st.booleans(),
    bidirectional=st.booleans(), dtype=dtypes, seed=seeds,
)
@settings(max_examples=40)
def test_state_dict_round_trip_back_to_torch(D, H, num_layers, bias, bidirectional, dtype, seed):
    rng = np.random.default_rng(seed)
    kwargs = dict(num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    t, n = pair("RNN", D, H, dtype=dtype, rng=rng, **kwargs)
    exported = n.state_dict()
    assert list(exported) == list(t.state_dict())
    for key, value in exported.items():
        assert isinstance(value, np.ndarray)
        assert value.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(value, to_numpy(t.state_dict()[key]))
    # a fresh torch model (different init) loads numrnn's export and behaves identically
    t2 = torch_layer("RNN", D, H, dtype=dtype, **kwargs)
    t2.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in exported.items()})
    x = to_torch(rng.standard_normal((4, 2, D)), dtype)
    out1, h1 = t(x)
    out2, h2 = t2(x)
    np.testing.assert_array_equal(to_numpy(out1), to_numpy(out2))
    np.testing.assert_array_equal(to_numpy(h1), to_numpy(h2))


def test_parameters_reachable_as_attributes():
    t, n = pair("RNN", 3, 4, num_layers=2, bidirectional=True)
    for key, value in t.state_dict().items():
        attr = getattr(n, key)
        assert isinstance(attr, np.ndarray)
        np.testing.assert_array_equal(attr, to_numpy(value))


def test_reloading_weights_changes_outputs():
    """Derived kernel weights must follow load_state_dict, not the first call's weights."""
    rng = np.random.default_rng(5)
    t1 = torch_layer("RNN", 3, 4, num_layers=2, bidirectional=True, rng=rng)
    t2 = torch_layer("RNN", 3, 4, num_layers=2, bidirectional=True, rng=rng)
    n = nn.RNN(3, 4, num_layers=2, bidirectional=True)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for t in (t1, t2, t1):
        n.load_state_dict(numpy_state(t))
        out_t, h_t = t(to_torch(x))
        out_n, h_n = n(x)
        assert_close(out_n, out_t)
        assert_close(h_n, h_t)


# ---------------------------------------------------------------------------------------
# Input conversion


@pytest.mark.parametrize("in_dtype", [np.float16, np.float64, np.float32])
def test_other_float_precisions_are_converted(in_dtype):
    rng = np.random.default_rng(3)
    t, n = pair("RNN", 3, 5, num_layers=2, batch_first=True, rng=rng)
    x = rng.standard_normal((2, 6, 3)).astype(in_dtype)
    h0 = rng.standard_normal((2, 2, 5)).astype(in_dtype)
    out_t, h_t = t(to_torch(x.astype(np.float32)), to_torch(h0.astype(np.float32)))
    out_n, h_n = n(x, h0)
    assert_close(out_n, out_t, np.float32)
    assert_close(h_n, h_t, np.float32)


def test_float32_input_to_float64_layer():
    rng = np.random.default_rng(4)
    t, n = pair("RNN", 3, 5, dtype=np.float64, rng=rng)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    out_t, h_t = t(to_torch(x.astype(np.float64)))
    out_n, h_n = n(x)
    assert_close(out_n, out_t, np.float64)
    assert_close(h_n, h_t, np.float64)


def test_array_likes_are_accepted():
    rng = np.random.default_rng(6)
    t, n = pair("RNN", 3, 4, rng=rng)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out_t, h_t = t(to_torch(x))
    grad_tensor = torch.from_numpy(x.copy()).requires_grad_(True)
    with torch.enable_grad():
        candidates = [x.tolist(), memoryview(x), torch.from_numpy(x.copy()), grad_tensor]
        results = [n(c) for c in candidates]
    for out_n, h_n in results:
        assert_close(out_n, out_t)
        assert_close(h_n, h_t)


# ---------------------------------------------------------------------------------------
# Validation (issue 2)


def test_input_must_be_2d_or_3d():
    rnn = nn.RNN(3, 5)
    for shape in [(3,), (2, 4, 2, 3), ()]:
        with pytest.raises(ValueError):
            rnn(np.zeros(shape, np.float32))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("shape", [(4, 2, 7), (4, 7)])
def test_wrong_feature_size_names_expected_and_got(batch_first, shape):
    rnn = nn.RNN(3, 5, batch_first=batch_first)
    with pytest.raises(ValueError) as info:
        rnn(np.zeros(shape, np.float32))
    message = str(info.value)
    assert re.search(r"\b3\b", message) and re.search(r"\b7\b", message), message


@pytest.mark.parametrize(
    "num_layers,bidirectional,unbatched,bad_shape",
    [
        (1, False, False, (1, 3, 5)),  # wrong batch
        (1, False, False, (2, 2, 5)),  # wrong num_layers*dirs
        (2, True, False, (4, 2, 6)),  # wrong hidden
        (2, True, False, (2, 4, 5)),
        (1, False, False, (2, 5)),  # 2-D state for batched input
        (1, False, True, (1, 1, 5)),  # 3-D state for unbatched input
        (2, False, True, (1, 5)),
    ],
)
def test_h0_wrong_shape_names_expected_tuple(num_layers, bidirectional, unbatched, bad_shape):
    N, H = 2, 5
    rnn = nn.RNN(3, H, num_layers=num_layers, bidirectional=bidirectional)
    dirs = 2 if bidirectional else 1
    x = np.zeros((4, 3) if unbatched else (4, N, 3), np.float32)
    expected = (num_layers * dirs, H) if unbatched else (num_layers * dirs, N, H)
    with pytest.raises(ValueError) as info:
        rnn(x, np.zeros(bad_shape, np.float32))
    if len(bad_shape) == len(expected):
        assert str(expected) in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 2, 3), np.int64),
        np.zeros((4, 2, 3), np.int32),
        np.zeros((4, 2, 3), np.uint8),
        np.zeros((4, 2, 3), bool),
        np.zeros((4, 2, 3), np.complex128),
        np.zeros((4, 2, 3), np.complex64),
        np.full((4, 2, 3), "a"),
        np.zeros((4, 2, 3), object),
        [[["a", "b", "c"]]],
        "abc",
        [[[1, 2, 3]]],
        torch.zeros((4, 2, 3), dtype=torch.int64),
    ],
    ids=lambda v: type(v).__name__ + str(getattr(v, "dtype", "")),
)
def test_non_float_input_is_type_error(bad):
    with pytest.raises(TypeError):
        nn.RNN(3, 5)(bad)


def test_non_float_h0_is_type_error():
    rnn = nn.RNN(3, 5)
    with pytest.raises(TypeError):
        rnn(np.zeros((4, 2, 3), np.float32), np.zeros((1, 2, 5), np.int64))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(nonlinearity="sigmoid"),
        dict(nonlinearity="Tanh"),
        dict(hidden_size=0),
        dict(hidden_size=-1),
        dict(num_layers=0),
        dict(num_layers=-2),
        dict(dropout=-0.1),
        dict(dropout=1.5),
    ],
)
def test_bad_constructor_arguments(kwargs):
    args = dict(input_size=3, hidden_size=5)
    args.update(kwargs)
    with pytest.raises(ValueError):
        nn.RNN(**args)


@pytest.mark.parametrize("dropout", [0.0, 0.3, 1.0])
def test_dropout_validated_but_never_applied(dropout):
    rng = np.random.default_rng(8)
    t, n = pair("RNN", 3, 4, num_layers=3, dropout=dropout, rng=rng)
    n.train()
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out_t, h_t = t(to_torch(x))  # torch in eval mode: no dropout
    out_n, h_n = n(x)
    assert_close(out_n, out_t)
    assert_close(h_n, h_t)


@pytest.mark.parametrize("shape", [(0, 2, 3), (0, 3)])
def test_zero_length_sequence_is_value_error(shape):
    with pytest.raises(ValueError):
        nn.RNN(3, 5)(np.zeros(shape, np.float32))


def test_zero_length_sequence_batch_first():
    with pytest.raises(ValueError):
        nn.RNN(3, 5, batch_first=True)(np.zeros((2, 0, 3), np.float32))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_long_sequence_large_batch(nonlinearity):
    """Long enough that the input projection (~20 MB) cannot be one block in memory."""
    rng = np.random.default_rng(9)
    T, N, D, H = 600, 32, 8, 128
    t, n = pair("RNN", D, H, num_layers=2, bidirectional=True, nonlinearity=nonlinearity,
                dtype=np.float64, rng=rng, scale=0.5 / np.sqrt(H))
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((4, N, H))
    out_t, h_t = t(to_torch(x), to_torch(h0))
    out_n, h_n = n(x, h0)
    assert_close(out_n, out_t, np.float64, scale=10)
    assert_close(h_n, h_t, np.float64, scale=10)


# ---------------------------------------------------------------------------------------
# Memory layouts and aliasing (no per-call state kept between calls)


def _layouts(a):
    """The same values as differently laid out arrays."""
    fortran = np.asfortranarray(a)
    flipped = np.ascontiguousarray(a[::-1])[::-1]  # negative strides
    strided = np.repeat(a, 2, axis=-1)[..., ::2]  # non-unit last stride
    readonly = a.copy()
    readonly.flags.writeable = False
    return {"fortran": fortran, "flipped": flipped, "strided": strided, "readonly": readonly}


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch", [1, 3])
def test_memory_layouts_of_input_and_state(name, batch):
    rng = np.random.default_rng(30)
    t, n = pair(name, 4, 5, num_layers=2, bidirectional=True, batch_first=True, rng=rng)
    x = rng.standard_normal((batch, 6, 4)).astype(np.float32)
    h0 = rng.standard_normal((4, batch, 5)).astype(np.float32)
    c0 = rng.standard_normal((4, batch, 5)).astype(np.float32)
    if name == "LSTM":
        out_t, (h_t, c_t) = t(to_torch(x), (to_torch(h0), to_torch(c0)))
    else:
        out_t, h_t = t(to_torch(x), to_torch(h0))
    xs, hs, cs = _layouts(x), _layouts(h0), _layouts(c0)
    for layout in xs:
        if name == "LSTM":
            out_n, (h_n, c_n) = n(xs[layout], (hs[layout], cs[layout]))
            assert_close(c_n, c_t)
        else:
            out_n, h_n = n(xs[layout], hs[layout])
        assert_close(out_n, out_t)
        assert_close(h_n, h_t)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("shape", [(5, 1, 3), (5, 2, 3), (5, 3)], ids=["N=1", "N=2", "unbatched"])
def test_results_are_not_reused_between_calls(name, shape):
    rng = np.random.default_rng(31)
    t, n = pair(name, 3, 4, num_layers=2, bidirectional=True, rng=rng)
    x1 = rng.standard_normal(shape).astype(np.float32)
    x2 = rng.standard_normal(shape).astype(np.float32)
    first = n(x1)
    second = n(x2)  # must not overwrite the arrays returned by the first call
    expected1, expected2 = t(to_torch(x1)), t(to_torch(x2))
    assert_close(first[0], expected1[0])
    assert_close(second[0], expected2[0])
    # writing into a result does not change the next call's result
    first[0][...] = 1e6
    assert_close(n(x1)[0], expected1[0])
    h1 = first[1] if name != "LSTM" else first[1][0]
    h1[...] = 1e6
    again = n(x1)
    assert_close(again[1] if name != "LSTM" else again[1][0],
                 expected1[1] if name != "LSTM" else expected1[1][0])


def test_array_like_states():
    rng = np.random.default_rng(32)
    t, n = pair("RNN", 3, 4, rng=rng)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((1, 2, 4)).astype(np.float32)
    out_t, h_t = t(to_torch(x), to_torch(h0))
    with torch.enable_grad():
        states = [h0.tolist(), torch.from_numpy(h0.copy()),
                  torch.from_numpy(h0.copy()).requires_grad_(True), h0.astype(np.float64)]
        results = [n(x, s) for s in states]
    for out_n, h_n in results:
        assert_close(out_n, out_t)
        assert_close(h_n, h_t)
