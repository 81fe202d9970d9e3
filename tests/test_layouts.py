"""Every kernel layout (rows, features, fused) forced on every layer type, against torch.

The layer picks a layout from the batch and layer size; the Hypothesis parity tests use
small shapes, so here each layout is forced in turn to keep all three honest.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import numrnn as nn
from numrnn import kernels

LAYOUTS = [kernels.ROWS, kernels.FEATURES, kernels.FUSED, kernels.FUSED_FEATURES]
CHOOSE_LAYOUT = kernels.choose_layout  # the real one, whatever a fixture has patched in


@pytest.fixture(params=LAYOUTS, scope="module")
def forced_layout(request):
    layout = request.param
    original = kernels.choose_layout

    def choose(w, batch):
        if layout == kernels.FUSED and not (batch == 1 and w.w_aug is not None):
            return kernels.ROWS  # the fused path exists only for one row of a small layer
        if layout == kernels.FUSED_FEATURES and (w.w_aug is None or isinstance(w, kernels.RNNWeights)):
            return kernels.FEATURES  # fused feature-major: small gated layers only
        return layout

    kernels.choose_layout = choose
    yield layout
    kernels.choose_layout = original


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    kind=st.sampled_from(["tanh", "relu", "LSTM", "LSTM_proj", "GRU"]),
    N=st.sampled_from([1, 2, 5]),
    T=st.integers(1, 6),
    D=st.integers(1, 5),
    H=st.integers(2, 6),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    with_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_layout_matches_torch(
    forced_layout, dtype, kind, N, T, D, H, num_layers, bidirectional, bias, with_state, seed
):
    torch.manual_seed(seed)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    if kind in ("tanh", "relu"):
        name, kw["nonlinearity"] = "RNN", kind
    elif kind == "LSTM_proj":
        name, kw["proj_size"] = "LSTM", H - 1
    else:
        name = kind
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = getattr(torch.nn, name)(D, H, **kw).to(tdtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1)  # non-zero biases: a bias mistake cannot hide
    layer = getattr(nn, name)(D, H, dtype=dtype, **kw)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})

    x = torch.randn(T, N, D, dtype=tdtype)
    L = num_layers * (2 if bidirectional else 1)
    P = kw.get("proj_size") or H
    hx = None
    if with_state:
        h0 = torch.randn(L, N, P, dtype=tdtype)
        hx = (h0, torch.randn(L, N, H, dtype=tdtype)) if name == "LSTM" else h0
    with torch.no_grad():
        want_out, want_state = ref(x, hx)
    np_hx = None if hx is None else (tuple(a.numpy() for a in hx) if name == "LSTM" else hx.numpy())
    out, state = layer(x.numpy(), np_hx)

    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, want_out.numpy(), **tol)
    if name == "LSTM":
        np.testing.assert_allclose(state[0], want_state[0].numpy(), **tol)
        np.testing.assert_allclose(state[1], want_state[1].numpy(), **tol)
    else:
        np.testing.assert_allclose(state, want_state.numpy(), **tol)


def test_default_layout_choice_covers_all_three():
    small = nn.LSTM(3, 5)._weights()[0][0]
    wide = nn.GRU(256, 128)._weights()[0][0]
    elman = nn.RNN(64, 128)._weights()[0][0]
    assert CHOOSE_LAYOUT(small, 1) == kernels.FUSED
    assert CHOOSE_LAYOUT(small, 4) == kernels.FEATURES
    assert CHOOSE_LAYOUT(small, 8) == kernels.FUSED_FEATURES
    assert CHOOSE_LAYOUT(wide, 1) == kernels.ROWS  # too big to fuse
    assert CHOOSE_LAYOUT(wide, 32) == kernels.FEATURES
    assert CHOOSE_LAYOUT(elman, 32) == kernels.ROWS
    wide_elman = nn.RNN(64, 512)._weights()[0][0]
    assert CHOOSE_LAYOUT(wide_elman, 16) == kernels.FEATURES  # 16-32 rows of a wide layer
    assert CHOOSE_LAYOUT(wide_elman, 32) == kernels.FEATURES
    assert CHOOSE_LAYOUT(wide_elman, 8) == kernels.ROWS
    assert CHOOSE_LAYOUT(wide_elman, 64) == kernels.ROWS


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("N", [1, 2, 9])
@pytest.mark.parametrize("H", [1, 3])
def test_initial_state_is_never_written(forced_layout, name, N, H):
    # Regression: with H = 1 a feature-major state [H, N] is h0.T itself, and the scan used
    # to write its final state into the caller's h0.
    rng = np.random.default_rng(N * 10 + H)
    layer = getattr(nn, name)(2, H, num_layers=2, bidirectional=True)
    x = rng.standard_normal((4, N, 2)).astype(np.float32)
    states = [rng.standard_normal((4, N, H)).astype(np.float32) for _ in range(2 if name == "LSTM" else 1)]
    before = [s.copy() for s in states]
    x_before = x.copy()
    out, _ = layer(x, tuple(states) if name == "LSTM" else states[0])
    for got, want in zip(states, before):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, x_before)
    # and again through the cell, whose state is [N, H]
    cell = getattr(nn, name + "Cell")(2, H)
    cell_states = [s[0].copy() for s in states]
    cell(x[0], tuple(cell_states) if name == "LSTM" else cell_states[0])
    for got, want in zip(cell_states, states):
        np.testing.assert_array_equal(got, want[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_wide_elman_layer_in_its_default_feature_major_layout_matches_torch(dtype, nonlinearity):
    torch.manual_seed(7)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = torch.nn.RNN(6, 256, num_layers=2, nonlinearity=nonlinearity, bidirectional=True).to(tdtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.1, 0.1)
    layer = nn.RNN(6, 256, num_layers=2, nonlinearity=nonlinearity, bidirectional=True, dtype=dtype)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    assert kernels.choose_layout(layer._weights()[0][0], 16) == kernels.FEATURES
    x, h0 = torch.randn(9, 16, 6, dtype=tdtype), torch.randn(4, 16, 256, dtype=tdtype)
    with torch.no_grad():
        want_out, want_h = ref(x, h0)
    out, h = layer(x.numpy(), h0.numpy())
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, want_out.numpy(), **tol)
    np.testing.assert_allclose(h, want_h.numpy(), **tol)
