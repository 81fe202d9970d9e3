"""Work buffers kept between calls: slots, the pool, and that nothing returned aliases them."""

import numpy as np
import pytest
from _threads import run_threads

import numrnn as nn
from numrnn import _workspace, kernels, recurrent
from numrnn._workspace import Workspace


@pytest.fixture(autouse=True)
def keep_small_requests(monkeypatch):
    monkeypatch.setattr(_workspace, "SMALL_BYTES", 0)  # the tests use tiny buffers


def test_slots_are_handed_out_in_order_and_reused_after_reset():
    ws = Workspace()
    a = ws.empty((3, 4), np.float32)
    b = ws.empty((5,), np.float64)
    assert not np.shares_memory(a, b)
    assert a.shape == (3, 4) and a.dtype == np.float32 and a.flags.c_contiguous
    assert b.shape == (5,) and b.dtype == np.float64
    ws.reset()
    a2 = ws.empty((2, 2), np.float64)  # same slot, other dtype, smaller: same memory
    assert np.shares_memory(a, a2)
    b2 = ws.empty((4, 4), np.float64)  # larger than the slot was: grown, new memory
    assert not np.shares_memory(b, b2)
    assert b2.shape == (4, 4)
    held = ws.nbytes
    assert held == 48 + 128  # slot 0 kept its 48 bytes, slot 1 grew to 128
    ws.reset()
    again = [ws.empty((2, 2), np.float64), ws.empty((4, 4), np.float64)]  # the same requests
    assert ws.nbytes == held  # nothing new
    assert np.shares_memory(again[0], a) and np.shares_memory(again[1], b2)
    ws.empty((1,), np.float32)
    assert ws.nbytes == held + 4  # a third slot


def test_requests_outside_the_limits_are_not_kept(monkeypatch):
    monkeypatch.setattr(_workspace, "KEEP_BYTES", 64)
    monkeypatch.setattr(_workspace, "SMALL_BYTES", 8)
    ws = Workspace()
    big = ws.empty((100,), np.float32)
    assert big.shape == (100,) and ws.nbytes == 0
    tiny = ws.empty((1,), np.float32)
    assert tiny.shape == (1,) and ws.nbytes == 0
    kept = ws.empty((4,), np.float32)
    assert kept.shape == (4,) and ws.nbytes == 16


def test_borrow_gives_each_concurrent_user_its_own_workspace():
    with _workspace.borrow() as a, _workspace.borrow() as b:
        assert a is not b
    with _workspace.borrow() as c:
        assert c in (a, b)  # returned to the pool and reused


LAYOUTS = [kernels.ROWS, kernels.FEATURES, kernels.FUSED, kernels.FUSED_FEATURES]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_nothing_returned_is_overwritten_by_the_next_call(monkeypatch, name, layout):
    rng = np.random.default_rng(3)
    layer = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True)
    N = 1 if layout == kernels.FUSED else 5

    def choose(w, batch):
        if layout == kernels.FUSED_FEATURES and isinstance(w, kernels.RNNWeights):
            return kernels.FEATURES
        return layout

    monkeypatch.setattr(kernels, "choose_layout", choose)
    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", 2 * N * 16 * 8)  # several chunks
    x1, x2 = (rng.standard_normal((7, N, 3)).astype(np.float32) for _ in range(2))
    first = layer(x1)
    kept = [np.array(a, copy=True) for a in _flat(first)]
    layer(x2)
    for got, want in zip(_flat(first), kept):
        np.testing.assert_array_equal(got, want)


def _flat(result):
    out, state = result
    return [out, *(state if isinstance(state, tuple) else (state,))]


def test_threads_sharing_a_chunked_feature_major_layer_match_serial(monkeypatch):
    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", 3 * 6 * 4 * 16 * 4)  # 3 steps a chunk
    layer = nn.LSTM(5, 16, num_layers=2)
    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal((11, 6, 5)).astype(np.float32) for _ in range(4)]
    monkeypatch.setattr(kernels, "choose_layout", lambda w, batch: kernels.FEATURES)
    expected = [layer(x) for x in inputs]
    results = run_threads(layer, inputs, repeats=15)
    for want, outs in zip(expected, results):
        for got in outs:
            for a, b in zip(_flat(got), _flat(want)):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", [kernels.ROWS, kernels.FEATURES])
@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_memory_kept_does_not_grow_with_the_sequence(monkeypatch, name, layout):
    # Regression: a scratch buffer taken once per chunk of steps held a slot per chunk, so
    # a 20 000-step LSTM kept 156 MiB of slots (the long-sequence memory benchmark caught it).
    monkeypatch.setattr(kernels, "choose_layout", lambda w, batch: layout)
    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", 2 * 3 * 4 * 8 * 4)  # 2 steps a chunk
    monkeypatch.setattr(_workspace, "_POOL", [])  # only this test's workspace
    layer = getattr(nn, name)(5, 8, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(5)

    def kept_after(T):
        layer(rng.standard_normal((T, 3, 5)).astype(np.float32))
        (ws,) = _workspace._POOL
        return ws.nbytes

    short = kept_after(20)  # longer than a chunk (2-8 steps here)
    assert short > 0
    assert kept_after(200) == short
