"""Long sequences are projected chunk by chunk: uneven chunks, both directions, every layer.

Each layout that projects by chunks (ROWS, FEATURES) is forced in turn; FEATURES also
buffers each chunk's output feature-major, so one-step chunks check that a chunk never
overwrites the state it starts from.
"""

import numpy as np
import pytest
import torch

import numrnn as nn
import numrnn.kernels as kernels
import numrnn.recurrent as recurrent


@pytest.mark.parametrize("layout", [kernels.ROWS, kernels.FEATURES])
@pytest.mark.parametrize("steps_per_chunk", [1, 5])
@pytest.mark.parametrize("name", ["RNN", "LSTM", "LSTM_proj", "GRU"])
@pytest.mark.parametrize("N", [1, 3, 17])
def test_uneven_chunks_match_torch(monkeypatch, name, N, steps_per_chunk, layout):
    torch.manual_seed(N)
    kw = dict(num_layers=2, bidirectional=True)
    if name == "LSTM_proj":
        name, kw["proj_size"] = "LSTM", 3
    ref = getattr(torch.nn, name)(2, 4, **kw).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1)
    layer = getattr(nn, name)(2, 4, dtype=np.float64, **kw)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[name]
    # 23 steps leave a short last chunk, which the reverse direction meets first.
    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", steps_per_chunk * N * gates * 4 * 8)
    monkeypatch.setattr(kernels, "choose_layout", lambda w, batch: layout)
    x = torch.randn(23, N, 2, dtype=torch.float64)
    with torch.no_grad():
        want_out, want_state = ref(x)
    out, state = layer(x.numpy())
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-10, atol=1e-10)
    states = zip(*((state, want_state) if name == "LSTM" else ((state,), (want_state,))))
    for got, want in states:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_bidirectional_stack_allocates_only_its_layer_outputs(monkeypatch, name):
    # Each direction writes its half of the layer output: no per-direction outputs and no
    # joined copy. With two layers, what a forward allocates beyond its kept work buffers
    # is the two layer outputs (the first is freed after the second layer has read it).
    import tracemalloc

    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", 64 << 10)
    layer = getattr(nn, name)(8, 16, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((2000, 8, 8)).astype(np.float32)
    layer(x)  # warm: the work buffers are kept from here on
    tracemalloc.start()
    try:
        out, _ = layer(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2.3 * out.nbytes, (peak, out.nbytes)  # joining directions made it 3x
