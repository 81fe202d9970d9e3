"""Linear, the elementwise helpers, Dropout and Sequential against torch."""

import numpy as np
import pytest
import torch
from _torch_ref import (
    assert_close,
    dtypes,
    features,
    numpy_state,
    pair,
    seeds,
    state_signature,
    to_numpy,
    to_torch,
    torch_layer,
)
from hypothesis import given
from hypothesis import strategies as st

import numrnn as nn

pytestmark = pytest.mark.usefixtures("torch_no_grad")

# ---------------------------------------------------------------------------------------
# Linear


@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    D=features, K=features, bias=st.booleans(), dtype=dtypes, seed=seeds,
)
def test_linear_matches_torch_for_any_leading_dims(lead, D, K, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    t, n = pair("Linear", D, K, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((*lead, D)).astype(dtype)
    assert_close(n(x), t(to_torch(x)), dtype)
    assert state_signature(n.state_dict()) == state_signature(t.state_dict())
    assert state_signature(nn.Linear(D, K, bias=bias).state_dict()) == state_signature(
        torch.nn.Linear(D, K, bias=bias).state_dict()
    )


def test_linear_without_bias_has_only_weight():
    n = nn.Linear(4, 3, bias=False)
    assert list(n.state_dict()) == ["weight"]
    assert n.bias is None
    t, n = pair("Linear", 4, 3, bias=False)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    assert_close(n(x), t(to_torch(x)), np.float32)


def test_linear_attributes():
    n = nn.Linear(4, 3)
    assert n.in_features == 4 and n.out_features == 3
    assert n.weight.shape == (3, 4) and n.bias.shape == (3,)


def test_linear_wrong_feature_size():
    with pytest.raises(ValueError):
        nn.Linear(4, 3)(np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("in_dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_result_dtype_is_layer_dtype(in_dtype, layer_dtype):
    rng = np.random.default_rng(1)
    t, n = pair("Linear", 4, 3, dtype=layer_dtype, rng=rng)
    x = rng.standard_normal((2, 4)).astype(in_dtype)
    y = n(x)
    assert y.dtype == np.dtype(layer_dtype)
    assert_close(y, t(to_torch(x.astype(layer_dtype))), layer_dtype)
    for value in n.state_dict().values():
        assert value.dtype == np.dtype(layer_dtype)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 4), np.int64), np.zeros((2, 4), bool), np.zeros((2, 4), np.complex64),
     np.full((2, 4), "x"), np.zeros((2, 4), object), [[1, 2, 3, 4]]],
    ids=["int64", "bool", "complex64", "str", "object", "int-list"],
)
@pytest.mark.parametrize("layer", ["Linear", "Tanh", "ReLU", "Sigmoid", "Identity", "Dropout"])
def test_non_float_input_is_type_error(bad, layer):
    module = nn.Linear(4, 3) if layer == "Linear" else getattr(nn, layer)()
    with pytest.raises(TypeError):
        module(bad)


def test_array_likes():
    rng = np.random.default_rng(2)
    t, n = pair("Linear", 4, 3, rng=rng)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    expected = t(to_torch(x))
    for candidate in [x.tolist(), memoryview(x), torch.from_numpy(x.copy()),
                      torch.from_numpy(x.copy()).requires_grad_(True)]:
        assert_close(n(candidate), expected, np.float32)


# ---------------------------------------------------------------------------------------
# Elementwise helpers


@pytest.mark.parametrize("name", ["Identity", "Tanh", "ReLU", "Sigmoid"])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), dtype=dtypes, seed=seeds)
def test_elementwise_matches_torch(name, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    layer = getattr(nn, name)()
    y = layer(x)
    assert_close(y, getattr(torch.nn, name)()(to_torch(x)), dtype)
    assert list(layer.state_dict()) == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_large_inputs_do_not_overflow(dtype):
    x = np.array([-1e4, -800.0, -100.0, -20.0, 0.0, 20.0, 100.0, 800.0, 1e4], dtype=dtype)
    with np.errstate(all="raise"):
        y = nn.Sigmoid()(x)
    assert_close(y, torch.sigmoid(to_torch(x)), dtype)


@pytest.mark.parametrize("name", ["Identity", "Tanh", "ReLU", "Sigmoid", "Dropout"])
def test_nan_and_inf_propagate_elementwise(name):
    x = np.array([[np.nan, np.inf, -np.inf, 0.5, -2.0]], np.float32)
    y = getattr(nn, name)()(x)
    expected = getattr(torch.nn, name)().eval()(to_torch(x))
    assert_close(y, expected, np.float32)
    assert np.isnan(y[0, 0])


def test_nan_and_inf_propagate_through_linear():
    rng = np.random.default_rng(3)
    t, n = pair("Linear", 3, 2, rng=rng)
    x = np.array([[np.nan, 1.0, 2.0], [np.inf, 0.0, 1.0], [1.0, 2.0, 3.0]], np.float32)
    y = n(x)
    assert_close(y, t(to_torch(x)), np.float32)
    assert np.isnan(y[0]).all() and np.isinf(y[1]).all() and np.isfinite(y[2]).all()


@pytest.mark.parametrize(
    "name,kwargs",
    [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {}),
     ("RNN", {"bidirectional": True, "num_layers": 2})],
)
@pytest.mark.parametrize("N", [1, 2])
def test_nan_propagates_through_recurrent_layers(name, kwargs, N):
    rng = np.random.default_rng(4)
    t, n = pair(name, 3, 4, rng=rng, **kwargs)
    x = rng.standard_normal((5, N, 3)).astype(np.float32)
    x[2, 0, 1] = np.nan
    if N > 1:
        x[3, 1, 0] = np.inf
    out_t, state_t = t(to_torch(x))
    out_n, state_n = n(x)
    assert_close(out_n, out_t, np.float32)
    if name != "LSTM":
        state_n, state_t = (state_n,), (state_t,)
    assert len(state_n) == len(state_t)
    for got, expected in zip(state_n, state_t):
        assert_close(got, expected, np.float32)
    assert np.isnan(out_n[2:, 0]).all()
    if not kwargs.get("bidirectional"):
        assert np.isfinite(out_n[:2]).all()


# ---------------------------------------------------------------------------------------
# Dropout


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
def test_dropout_is_identity_in_both_modes(p):
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    layer = nn.Dropout(p)
    for mode in (True, False):
        layer.train(mode)
        y = layer(x)
        assert isinstance(y, np.ndarray) and y.dtype == np.float32
        np.testing.assert_array_equal(y, x)
    assert nn.Dropout().p == 0.5
    assert nn.Dropout(p=p).p == p


@pytest.mark.parametrize("p", [-0.1, 1.01, 2.0, -1.0])
def test_dropout_p_validated(p):
    with pytest.raises(ValueError):
        nn.Dropout(p)


# ---------------------------------------------------------------------------------------
# Sequential


def _stack(lib, **kw):
    return lib.Sequential(
        lib.Linear(4, 6, **kw), lib.Tanh(), lib.Dropout(0.3), lib.Linear(6, 5, bias=False, **kw),
        lib.ReLU(), lib.Identity(), lib.Linear(5, 2, **kw), lib.Sigmoid(),
    )


@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=2), seed=seeds, dtype=dtypes)
def test_sequential_chains_like_torch(lead, seed, dtype):
    rng = np.random.default_rng(seed)
    t = torch_layer("Sequential", *_stack(torch.nn), dtype=dtype, rng=rng)
    n = _stack(nn, dtype=dtype)
    n.load_state_dict(numpy_state(t))
    x = rng.standard_normal((*lead, 4)).astype(dtype)
    y = n(x)
    assert_close(y, t(to_torch(x)), dtype)


def test_sequential_state_dict_indexing_and_len():
    t, n = _stack(torch.nn), _stack(nn)
    assert state_signature(n.state_dict()) == state_signature(t.state_dict())
    assert list(n.state_dict())[:3] == ["0.weight", "0.bias", "3.weight"]
    assert len(n) == 8
    assert isinstance(n[0], nn.Linear) and isinstance(n[1], nn.Tanh)
    assert isinstance(n[-1], nn.Sigmoid)
    assert [type(m).__name__ for m in n] == [type(m).__name__ for m in t]
    assert [k for k, _ in n.named_children()] == [str(i) for i in range(8)]
    first = n[0]
    assert first is list(n.children())[0]


def test_sequential_inside_module_keys():
    def build(lib):
        m = lib.Module()
        m.body = lib.Sequential(lib.Linear(2, 3), lib.Sequential(lib.Tanh(), lib.Linear(3, 1)))
        return m

    assert state_signature(build(nn).state_dict()) == state_signature(build(torch.nn).state_dict())
    assert list(build(nn).state_dict()) == ["body.0.weight", "body.0.bias", "body.1.1.weight",
                                            "body.1.1.bias"]


def test_sequential_load_from_torch_with_tensors():
    torch.manual_seed(0)
    t = _stack(torch.nn).eval()
    n = _stack(nn)
    n.load_state_dict(t.state_dict())
    x = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    assert_close(n(x), t(to_torch(x)), np.float32)
    for key, value in t.state_dict().items():
        np.testing.assert_array_equal(n.state_dict()[key], to_numpy(value))
