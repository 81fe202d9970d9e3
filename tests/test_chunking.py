"""Long sequences are projected chunk by chunk: uneven chunks, both directions, every layer."""

import numpy as np
import pytest
import torch

import numrnn as nn
import numrnn.recurrent as recurrent


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("N", [1, 3, 17])
def test_uneven_chunks_match_torch(monkeypatch, name, N):
    torch.manual_seed(N)
    ref = getattr(torch.nn, name)(2, 4, num_layers=2, bidirectional=True).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1)
    layer = getattr(nn, name)(2, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[name]
    # 5 steps per chunk; 23 steps leave a short last chunk, which the reverse direction meets first.
    monkeypatch.setattr(recurrent, "_CHUNK_BYTES", 5 * N * gates * 4 * 8)
    x = torch.randn(23, N, 2, dtype=torch.float64)
    with torch.no_grad():
        want_out, want_state = ref(x)
    out, state = layer(x.numpy())
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-10, atol=1e-10)
    want_h = want_state[0] if name == "LSTM" else want_state
    got_h = state[0] if name == "LSTM" else state
    np.testing.assert_allclose(got_h, want_h.numpy(), rtol=1e-10, atol=1e-10)
