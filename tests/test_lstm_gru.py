"""LSTM (with projections), GRU, their cells and Embedding against torch (issue 4)."""

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
    randomize_,
    seeds,
    seq_lens,
    state_signature,
    to_numpy,
    to_torch,
    torch_layer,
)
from hypothesis import given
from hypothesis import strategies as st

import numrnn as nn

pytestmark = pytest.mark.usefixtures("torch_no_grad")


def make_input(rng, T, N, D, *, batch_first, unbatched, dtype, scale=1.0):
    if unbatched:
        shape = (T, D)
    elif batch_first:
        shape = (N, T, D)
    else:
        shape = (T, N, D)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def state_shape(num_states, N, width, unbatched):
    return (num_states, width) if unbatched else (num_states, N, width)


def run_case(
    name, *, T, N, D, H, num_layers, bias, batch_first, bidirectional, unbatched, with_hx,
    dtype, seed, proj_size=0, dropout=0.0,
):
    rng = np.random.default_rng(seed)
    kwargs = dict(
        num_layers=num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
        bidirectional=bidirectional,
    )
    if name == "LSTM":
        kwargs["proj_size"] = proj_size
    t, n = pair(name, D, H, dtype=dtype, rng=rng, **kwargs)
    x = make_input(rng, T, N, D, batch_first=batch_first, unbatched=unbatched, dtype=dtype)
    num_states = num_layers * (2 if bidirectional else 1)
    out_width = proj_size if proj_size else H
    hx = None
    if with_hx:
        h0 = rng.standard_normal(state_shape(num_states, N, out_width, unbatched)).astype(dtype)
        if name == "LSTM":
            c0 = rng.standard_normal(state_shape(num_states, N, H, unbatched)).astype(dtype)
            hx = (h0, c0)
        else:
            hx = h0
    x_before = x.copy()

    if hx is None:
        expected = t(to_torch(x))
        got = n(x)
    elif name == "LSTM":
        expected = t(to_torch(x), (to_torch(hx[0]), to_torch(hx[1])))
        got = n(x, (hx[0], hx[1]))
    else:
        expected = t(to_torch(x), to_torch(hx))
        got = n(x, hx)

    out_t, state_t = expected
    out_n, state_n = got
    assert_close(out_n, out_t, dtype)
    if name == "LSTM":
        h_t, c_t = state_t
        h_n, c_n = state_n
        assert_close(h_n, h_t, dtype)
        assert_close(c_n, c_t, dtype)
        assert h_n.shape == state_shape(num_states, N, out_width, unbatched)
        assert c_n.shape == state_shape(num_states, N, H, unbatched)
    else:
        assert_close(state_n, state_t, dtype)
    np.testing.assert_array_equal(x, x_before)

    fresh_t = getattr(torch.nn, name)(D, H, **kwargs)
    fresh_n = getattr(nn, name)(D, H, dtype=dtype, **kwargs)
    assert state_signature(fresh_n.state_dict()) == state_signature(fresh_t.state_dict())
    for value in fresh_n.state_dict().values():
        assert isinstance(value, np.ndarray) and value.dtype == np.dtype(dtype)


@st.composite
def cases(draw, name):
    num_layers = draw(st.integers(1, 3))
    H = draw(features)
    return dict(
        T=draw(seq_lens), N=draw(batches), D=draw(features), H=H,
        num_layers=num_layers,
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        unbatched=draw(st.booleans()),
        with_hx=draw(st.booleans()),
        dtype=draw(dtypes),
        seed=draw(seeds),
        proj_size=draw(st.integers(0, H - 1)) if name == "LSTM" else 0,
        dropout=draw(st.sampled_from([0.0, 0.5])) if num_layers > 1 else 0.0,
    )


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@given(cases("LSTM"))
def test_lstm_matches_torch(case):
    run_case("LSTM", **case)


@given(cases("GRU"))
def test_gru_matches_torch(case):
    run_case("GRU", **case)


GRID = list(
    itertools.product(
        ["LSTM", "GRU"],
        [1, 2, 3],  # num_layers
        [True, False],  # bias
        [True, False],  # batch_first
        [True, False],  # bidirectional
        [True, False],  # unbatched
        [True, False],  # with_hx
        ["float32", "float64"],
        [False, True],  # proj (LSTM only)
    )
)
GRID = [g for g in GRID if g[0] == "LSTM" or not g[-1]]


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize(
    "name,num_layers,bias,batch_first,bidirectional,unbatched,with_hx,dtype,proj", GRID
)
def test_every_option_combination(
    name, num_layers, bias, batch_first, bidirectional, unbatched, with_hx, dtype, proj
):
    index = GRID.index(
        (name, num_layers, bias, batch_first, bidirectional, unbatched, with_hx, dtype, proj)
    )
    rng = np.random.default_rng(1000 + index)
    T, N, D = (int(v) for v in rng.integers(1, [13, 6, 9]))
    H = int(rng.integers(2, 9))
    proj_size = int(rng.integers(1, H)) if proj else 0
    run_case(
        name, T=T, N=N, D=D, H=H, num_layers=num_layers, bias=bias, batch_first=batch_first,
        bidirectional=bidirectional, unbatched=unbatched, with_hx=with_hx,
        dtype=np.dtype(dtype).type, seed=index, proj_size=proj_size,
    )


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("name,kwargs", [("LSTM", {}), ("LSTM", {"proj_size": 2}), ("GRU", {})])
def test_state_dict_round_trip_back_to_torch(name, kwargs):
    rng = np.random.default_rng(11)
    kwargs = dict(num_layers=2, bidirectional=True, **kwargs)
    t, n = pair(name, 3, 4, rng=rng, **kwargs)
    exported = n.state_dict()
    assert list(exported) == list(t.state_dict())
    t2 = torch_layer(name, 3, 4, **kwargs)
    t2.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in exported.items()})
    x = to_torch(rng.standard_normal((5, 2, 3)).astype(np.float32))
    for a, b in zip(_leaves(t(x)), _leaves(t2(x))):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert len(_leaves(t(x))) == (3 if name == "LSTM" else 2)


def _leaves(result):
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _leaves(item)]
    return [result]


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_reloading_weights_changes_outputs(name):
    rng = np.random.default_rng(12)
    t1 = torch_layer(name, 3, 4, num_layers=2, bidirectional=True, rng=rng)
    t2 = torch_layer(name, 3, 4, num_layers=2, bidirectional=True, rng=rng)
    n = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True)
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    for t in (t1, t2, t1):
        n.load_state_dict(numpy_state(t))
        assert_close(n(x)[0], t(to_torch(x))[0], np.float32)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("in_dtype", [np.float16, np.float64])
def test_other_float_precisions_are_converted(name, in_dtype):
    rng = np.random.default_rng(13)
    t, n = pair(name, 3, 4, batch_first=True, rng=rng)
    x = rng.standard_normal((2, 5, 3)).astype(in_dtype)
    out_n = n(x)[0]
    assert out_n.dtype == np.float32
    assert_close(out_n, t(to_torch(x.astype(np.float32)))[0], np.float32)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize(
    "name,T,kwargs", [("LSTM", 160, {}), ("LSTM", 160, {"proj_size": 48}), ("GRU", 210, {})]
)
def test_long_sequence_large_batch(name, T, kwargs):
    """Long enough that the input projection (~20 MB) cannot be one block in memory."""
    rng = np.random.default_rng(19)
    N, D, H = 32, 8, 128
    t, n = pair(name, D, H, num_layers=2, bidirectional=True, dtype=np.float64, rng=rng,
                scale=1 / np.sqrt(H), **kwargs)
    x = rng.standard_normal((N, T, D))
    x_t = to_torch(x).transpose(0, 1)  # numrnn gets a non-contiguous (T, N, D) view
    x_n = x.transpose(1, 0, 2)
    out_t, state_t = t(x_t)
    out_n, state_n = n(x_n)
    assert_close(out_n, out_t, np.float64, scale=10)
    for got, expected in zip(_leaves(state_n), _leaves(state_t)):
        assert_close(got, expected, np.float64, scale=10)


# ---------------------------------------------------------------------------------------
# Cells


@given(
    N=batches, D=features, H=features, bias=st.booleans(), unbatched=st.booleans(),
    with_hx=st.booleans(), dtype=dtypes, seed=seeds,
)
def test_lstm_cell_matches_torch(N, D, H, bias, unbatched, with_hx, dtype, seed):
    rng = np.random.default_rng(seed)
    t, n = pair("LSTMCell", D, H, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((D,) if unbatched else (N, D)).astype(dtype)
    state = (H,) if unbatched else (N, H)
    if with_hx:
        h0 = rng.standard_normal(state).astype(dtype)
        c0 = rng.standard_normal(state).astype(dtype)
        h_t, c_t = t(to_torch(x), (to_torch(h0), to_torch(c0)))
        h_n, c_n = n(x, (h0, c0))
    else:
        h_t, c_t = t(to_torch(x))
        h_n, c_n = n(x)
    assert_close(h_n, h_t, dtype)
    assert_close(c_n, c_t, dtype)
    assert state_signature(nn.LSTMCell(D, H, bias=bias).state_dict()) == state_signature(
        torch.nn.LSTMCell(D, H, bias=bias).state_dict()
    )


@given(
    N=batches, D=features, H=features, bias=st.booleans(), unbatched=st.booleans(),
    with_hx=st.booleans(), dtype=dtypes, seed=seeds,
)
def test_gru_cell_matches_torch(N, D, H, bias, unbatched, with_hx, dtype, seed):
    rng = np.random.default_rng(seed)
    t, n = pair("GRUCell", D, H, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((D,) if unbatched else (N, D)).astype(dtype)
    hx = rng.standard_normal((H,) if unbatched else (N, H)).astype(dtype) if with_hx else None
    expected = t(to_torch(x), None if hx is None else to_torch(hx))
    got = n(x) if hx is None else n(x, hx)
    assert_close(got, expected, dtype)
    assert state_signature(nn.GRUCell(D, H, bias=bias).state_dict()) == state_signature(
        torch.nn.GRUCell(D, H, bias=bias).state_dict()
    )


def test_cells_step_by_step_equal_the_sequence_layers():
    """Cells loaded with layer-0 weights reproduce the layer's output one step at a time."""
    rng = np.random.default_rng(14)
    x = rng.standard_normal((7, 3, 4)).astype(np.float64)
    for name in ("LSTM", "GRU"):
        t, layer = pair(name, 4, 5, dtype=np.float64, rng=rng)
        cell = getattr(nn, name + "Cell")(4, 5, dtype=np.float64)
        cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
        out, _ = layer(x)
        state = None
        for step in range(7):
            state = cell(x[step]) if state is None else cell(x[step], state)
            h = state[0] if name == "LSTM" else state
            assert_close(h, out[step], np.float64)


# ---------------------------------------------------------------------------------------
# Embedding


@given(
    num=st.integers(1, 12), dim=features, shape=st.lists(st.integers(1, 4), max_size=3),
    id_dtype=st.sampled_from([np.int64, np.int32, np.int16, np.uint8]), dtype=dtypes, seed=seeds,
)
def test_embedding_matches_torch(num, dim, shape, id_dtype, dtype, seed):
    rng = np.random.default_rng(seed)
    t, n = pair("Embedding", num, dim, dtype=dtype, rng=rng)
    ids = rng.integers(0, min(num, 200), size=shape).astype(id_dtype)
    got = n(ids)
    assert_close(got, t(torch.from_numpy(ids.astype(np.int64))), dtype)
    assert state_signature(n.state_dict()) == [("weight", (num, dim))]


def test_embedding_accepts_lists_and_tensors():
    rng = np.random.default_rng(15)
    t, n = pair("Embedding", 10, 3, rng=rng)
    ids = [[1, 2, 9], [0, 0, 4]]
    expected = t(torch.tensor(ids))
    assert_close(n(ids), expected, np.float32)
    assert_close(n(torch.tensor(ids)), expected, np.float32)
    assert_close(n(np.array(ids, dtype=np.int32)), expected, np.float32)
    assert_close(n(7), t(torch.tensor(7)), np.float32)


@pytest.mark.parametrize("padding_idx,row", [(0, 0), (4, 4), (-1, 9), (-10, 0)])
def test_embedding_padding_idx(padding_idx, row):
    nn.manual_seed(0)
    fresh = nn.Embedding(10, 3, padding_idx=padding_idx)
    ref = torch.nn.Embedding(10, 3, padding_idx=padding_idx)
    assert fresh.padding_idx == ref.padding_idx == row
    np.testing.assert_array_equal(fresh.weight[row], np.zeros(3, np.float32))
    assert np.count_nonzero(np.delete(fresh.weight, row, axis=0)) == 27
    assert repr(fresh) == repr(ref)
    # loaded weights (torch's, randomised: the padding row is not zero) are looked up as is
    rng = np.random.default_rng(16)
    randomize_(ref, rng)
    fresh.load_state_dict(ref.state_dict())
    ids = np.array([[row, 1, row], [2, row, 3]])
    assert_close(fresh(ids), ref(torch.from_numpy(ids)), np.float32)


@pytest.mark.parametrize("bad_id", [10, 11, 1000, -11, -1000])
def test_embedding_out_of_range_is_index_error(bad_id):
    emb = nn.Embedding(10, 3)
    with pytest.raises(IndexError):
        emb(np.array([1, bad_id, 2]))
    with pytest.raises(IndexError):
        emb([[0, 1], [bad_id, 2]])


@pytest.mark.parametrize(
    "bad",
    [np.array([1.0, 2.0]), np.array([1, 2], np.float32), [1.0, 2.0], [0.5], 1.0,
     np.array([1 + 0j]), np.array(["1", "2"]), torch.tensor([1.0, 2.0])],
    ids=["f64", "f32", "float-list", "frac-list", "scalar", "complex", "str", "torch-float"],
)
def test_embedding_non_integer_ids_are_type_error(bad):
    with pytest.raises(TypeError):
        nn.Embedding(10, 3)(bad)


# ---------------------------------------------------------------------------------------
# A torch-style classifier: Embedding -> bidirectional LSTM -> Linear


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden, n_classes, padding_idx=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=2, batch_first=True,
                            bidirectional=True)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(2 * hidden, n_classes)

    def forward(self, ids):
        emb = self.embedding(ids)  # (N, T, E)
        out, (h_n, c_n) = self.lstm(emb)  # h_n (num_layers*2, N, H)
        features = np.concatenate([h_n[-2], h_n[-1]], axis=1)  # last layer, both dirs
        return self.fc(self.dropout(features)), self.fc(out[:, -1, :])


class TorchTextClassifier(torch.nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden, n_classes, padding_idx=0):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.lstm = torch.nn.LSTM(embed_dim, hidden, num_layers=2, batch_first=True,
                                  bidirectional=True)
        self.dropout = torch.nn.Dropout(0.2)
        self.fc = torch.nn.Linear(2 * hidden, n_classes)

    def forward(self, ids):
        emb = self.embedding(ids)
        out, (h_n, c_n) = self.lstm(emb)
        features = torch.cat([h_n[-2], h_n[-1]], dim=1)
        return self.fc(self.dropout(features)), self.fc(out[:, -1, :])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_text_classifier_matches_torch(seed):
    torch.manual_seed(seed)
    t = TorchTextClassifier(20, 6, 5, 3).eval()
    randomize_(t, np.random.default_rng(seed))
    n = TextClassifier(20, 6, 5, 3)
    missing, unexpected = n.load_state_dict(t.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    assert list(n.state_dict()) == list(t.state_dict())
    ids = np.random.default_rng(seed + 100).integers(0, 20, size=(4, 9))
    ids[:, -2:] = 0  # some padding at the end
    logits_t, last_t = t(torch.from_numpy(ids))
    logits_n, last_n = n(ids)
    assert_close(logits_n, logits_t, np.float32)
    assert_close(last_n, last_t, np.float32)
    assert logits_n.shape == (4, 3)
    assert repr(n) == repr(t).replace("TorchTextClassifier", "TextClassifier")


# ---------------------------------------------------------------------------------------
# Numerics: saturated gates must not overflow or warn


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("LSTM", {}),
        ("LSTM", dict(num_layers=2, bidirectional=True)),
        ("LSTM", dict(proj_size=3)),
        ("GRU", dict(num_layers=2, bidirectional=True)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_saturated_sequence_under_errstate_raise(name, kwargs, dtype):
    rng = np.random.default_rng(17)
    t = torch_layer(name, 4, 6, dtype=np.float64, rng=rng, scale=6.0, **kwargs)
    n = getattr(nn, name)(4, 6, dtype=dtype, **kwargs)
    n.load_state_dict(numpy_state(t))
    x = rng.standard_normal((300, 3, 4)) * 10
    with np.errstate(all="raise"):
        out_n, state_n = n(x.astype(dtype))
    out_ref, _ = t(to_torch(x))  # float64 torch: the reference
    out_ref = to_numpy(out_ref)
    assert np.isfinite(out_n).all()
    if dtype == np.float64:
        assert_close(out_n, out_ref, np.float64, scale=100)
    else:
        # float32 cannot match a float64 reference to 1e-5 after 300 saturated steps;
        # it must be about as close as torch's own float32 computation.
        t32 = torch_layer(name, 4, 6, dtype=np.float32, **kwargs)
        t32.load_state_dict(t.state_dict())
        out_t32 = to_numpy(t32(to_torch(x.astype(np.float32)))[0])
        torch_err = np.abs(out_t32 - out_ref).max()
        np.testing.assert_allclose(out_n, out_ref, rtol=0, atol=10 * max(torch_err, 1e-5))
        assert out_n.dtype == np.float32


def test_lstm_large_preactivations_cell():
    rng = np.random.default_rng(18)
    t, n = pair("LSTMCell", 3, 4, dtype=np.float64, rng=rng, scale=50.0)
    x = rng.standard_normal((5, 3)) * 100
    with np.errstate(all="raise"):
        h, c = n(x)
    h_t, c_t = t(to_torch(x))
    assert_close(h, h_t, np.float64)
    assert_close(c, c_t, np.float64)


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("proj_size", [-1, 5, 6])
def test_lstm_bad_proj_size(proj_size):
    with pytest.raises(ValueError):
        nn.LSTM(3, 5, proj_size=proj_size)


@pytest.mark.parametrize(
    "hx_fn",
    [
        lambda h, c: h,
        lambda h, c: (h,),
        lambda h, c: (h, c, c),
    ],
    ids=["array", "1-tuple", "3-tuple"],
)
def test_lstm_hx_must_be_a_pair(hx_fn):
    lstm = nn.LSTM(3, 5)
    h = np.zeros((1, 2, 5), np.float32)
    c = np.zeros((1, 2, 5), np.float32)
    with pytest.raises((TypeError, ValueError)):
        lstm(np.zeros((4, 2, 3), np.float32), hx_fn(h, c))


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("which", ["h", "c"])
def test_lstm_wrong_state_shape_names_which(which, unbatched):
    # proj_size makes the expected h and c shapes different, so the tuple names which one
    lstm = nn.LSTM(3, 6, num_layers=2, proj_size=4)
    N = 2
    x = np.zeros((5, 3) if unbatched else (5, N, 3), np.float32)
    h_shape = state_shape(2, N, 4, unbatched)
    c_shape = state_shape(2, N, 6, unbatched)
    h = np.zeros(h_shape, np.float32)
    c = np.zeros(c_shape, np.float32)
    if which == "h":
        h = np.zeros(state_shape(2, N, 6, unbatched), np.float32)
        expected, pattern = h_shape, r"(?i)\bh(_?0|_?n|x)?\b|hidden|\[0\]"
    else:
        c = np.zeros(state_shape(3, N, 6, unbatched), np.float32)
        expected, pattern = c_shape, r"(?i)\bc(_?0|_?n|x)?\b|cell|\[1\]"
    with pytest.raises(ValueError) as info:
        lstm(x, (h, c))
    message = str(info.value)
    assert str(expected) in message, message
    assert re.search(pattern, message), message


def test_lstm_both_states_wrong_reports_a_problem():
    lstm = nn.LSTM(3, 5)
    with pytest.raises(ValueError):
        lstm(np.zeros((4, 2, 3), np.float32),
             (np.zeros((1, 3, 5), np.float32), np.zeros((1, 3, 5), np.float32)))


@pytest.mark.parametrize("bad_shape", [(1, 3, 5), (2, 2, 5), (1, 2, 4)])
def test_gru_h0_wrong_shape_names_expected_tuple(bad_shape):
    with pytest.raises(ValueError) as info:
        nn.GRU(3, 5)(np.zeros((4, 2, 3), np.float32), np.zeros(bad_shape, np.float32))
    assert str((1, 2, 5)) in str(info.value)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_common_validation(name):
    layer = getattr(nn, name)(3, 5)
    with pytest.raises(ValueError) as info:
        layer(np.zeros((4, 2, 7), np.float32))
    assert re.search(r"\b3\b", str(info.value)) and re.search(r"\b7\b", str(info.value))
    for shape in [(3,), (1, 4, 2, 3)]:
        with pytest.raises(ValueError):
            layer(np.zeros(shape, np.float32))
    for bad in [np.zeros((4, 2, 3), np.int64), np.zeros((4, 2, 3), bool),
                np.zeros((4, 2, 3), np.complex128), np.full((4, 2, 3), "a")]:
        with pytest.raises(TypeError):
            layer(bad)
    with pytest.raises(ValueError):
        layer(np.zeros((0, 2, 3), np.float32))
    for kwargs in [dict(hidden_size=0), dict(num_layers=0), dict(dropout=-0.5),
                   dict(dropout=1.5)]:
        args = dict(input_size=3, hidden_size=5)
        args.update(kwargs)
        with pytest.raises(ValueError):
            getattr(nn, name)(**args)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell"])
def test_cell_validation(name):
    cell = getattr(nn, name)(3, 4)
    with pytest.raises(ValueError) as info:
        cell(np.zeros((2, 7), np.float32))
    assert re.search(r"\b3\b", str(info.value)) and re.search(r"\b7\b", str(info.value))
    with pytest.raises(TypeError):
        cell(np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError):
        getattr(nn, name)(3, 0)


def test_lstm_cell_state_errors():
    cell = nn.LSTMCell(3, 4)
    x = np.zeros((2, 3), np.float32)
    h = np.zeros((2, 4), np.float32)
    for bad in [h, (h,), (h, h, h)]:
        with pytest.raises((TypeError, ValueError)):
            cell(x, bad)
    with pytest.raises(ValueError) as info:
        cell(x, (h, np.zeros((3, 4), np.float32)))
    assert re.search(r"(?i)\bc(_?0|x)?\b|cell|\[1\]", str(info.value)), str(info.value)
    with pytest.raises(ValueError) as info:
        cell(x, (np.zeros((2, 5), np.float32), h))
    assert re.search(r"(?i)\bh(_?0|x)?\b|hidden|\[0\]", str(info.value)), str(info.value)
    with pytest.raises(ValueError):
        cell(np.zeros(3, np.float32), (h, h))  # unbatched input, batched state


def test_gru_cell_state_errors():
    cell = nn.GRUCell(3, 4)
    with pytest.raises(ValueError):
        cell(np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError):
        cell(np.zeros((2, 3), np.float32), np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError):
        cell(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.int64))
