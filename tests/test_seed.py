"""The seed notebook (PyTorch_Understanding_RNN_Shapes) as a test.

Its ``SimpleRNN`` is written again with ``import numrnn as nn`` exactly as the notebook
writes it (the only change: NumPy's ``X.shape[0]`` / ``np.zeros`` for ``X.size(0)`` /
``torch.zeros``), loaded from the state dict torch produced, and compared with torch for
N = 1 and N > 1 (the notebook's bonus exercise), and with the notebook's own NumPy loop.
"""

import numpy as np
import pytest
import torch
import torch.nn as tnn
from _torch_ref import assert_close, randomize_
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn as nn


@pytest.fixture(autouse=True, scope="module")
def _torch_no_grad():
    """torch is only the oracle here: no autograd bookkeeping (it is slow)."""
    with torch.no_grad():
        yield

# Things you should automatically know and have memorized
# N = number of samples
# T = sequence length
# D = number of input features
# M = number of hidden units
# K = number of output units
D, M, K = 3, 5, 2


class SimpleRNN(nn.Module):
    def __init__(self, n_inputs, n_hidden, n_outputs):
        super(SimpleRNN, self).__init__()  # noqa: UP008 - the notebook's spelling
        self.D = n_inputs
        self.M = n_hidden
        self.K = n_outputs
        self.rnn = nn.RNN(
            input_size=self.D,
            hidden_size=self.M,
            nonlinearity='tanh',
            batch_first=True)
        self.fc = nn.Linear(self.M, self.K)

    def forward(self, X):
        # initial hidden states
        h0 = np.zeros((1, X.shape[0], self.M))

        # get RNN unit output
        out, _ = self.rnn(X, h0)

        # we only want h(T) at the final time step
        # out = self.fc(out[:, -1, :])
        out = self.fc(out)
        return out


class TorchSimpleRNN(tnn.Module):
    """The notebook's model, verbatim."""

    def __init__(self, n_inputs, n_hidden, n_outputs):
        super(TorchSimpleRNN, self).__init__()  # noqa: UP008
        self.D = n_inputs
        self.M = n_hidden
        self.K = n_outputs
        self.rnn = tnn.RNN(
            input_size=self.D,
            hidden_size=self.M,
            nonlinearity='tanh',
            batch_first=True)
        self.fc = tnn.Linear(self.M, self.K)

    def forward(self, X):
        h0 = torch.zeros(1, X.size(0), self.M)
        out, _ = self.rnn(X, h0)
        out = self.fc(out)
        return out


def notebook_loop(X, W_xh, W_hh, b_xh, b_hh, Wo, bo):
    """The notebook's "see if we can replicate the output" loop, for every sample."""
    N, T, _ = X.shape
    Yhats_all = []
    for n in range(N):
        h_last = np.zeros(M)  # initial hidden state
        x = X[n]
        Yhats = np.zeros((T, K))  # where we store the outputs
        for t in range(T):
            h = np.tanh(x[t].dot(W_xh.T) + b_xh + h_last.dot(W_hh.T) + b_hh)
            y = h.dot(Wo.T) + bo
            Yhats[t] = y
            h_last = h
        Yhats_all.append(Yhats)
    return np.stack(Yhats_all)


def notebook_models(torch_seed, randomize=None, scale=1.0):
    torch.manual_seed(torch_seed)
    model = TorchSimpleRNN(n_inputs=D, n_hidden=M, n_outputs=K)
    if randomize is not None:
        randomize_(model, randomize, scale)
    ported = SimpleRNN(n_inputs=D, n_hidden=M, n_outputs=K)
    missing, unexpected = ported.load_state_dict(model.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    return model, ported


def run_notebook(N, T, np_seed, torch_seed, randomize=None, scale=1.0):
    model, ported = notebook_models(torch_seed, randomize, scale)
    X = np.random.default_rng(np_seed).standard_normal((N, T, D))
    inputs = torch.from_numpy(X.astype(np.float32))
    Yhats_torch = model(inputs).detach().numpy()

    out = ported(X.astype(np.float32))
    assert out.shape == (N, T, K)
    assert_close(out, Yhats_torch, np.float32)
    # float64 input (as the notebook's X is) is converted to the float32 layer
    assert_close(ported(X), model(torch.from_numpy(X).float()), np.float32)

    # the notebook's loop, fed with the weights as the notebook takes them
    W_xh, W_hh, b_xh, b_hh = ported.rnn.parameters()
    Wo, bo = ported.fc.parameters()
    assert W_xh.shape == (5, 3) and W_hh.shape == (5, 5)
    assert b_xh.shape == (5,) and b_hh.shape == (5,)
    assert Wo.shape == (2, 5) and bo.shape == (2,)
    Yhats = notebook_loop(X.astype(np.float32).astype(np.float64), W_xh, W_hh, b_xh, b_hh, Wo, bo)
    atol = 1e-5 * max(1.0, float(np.abs(Yhats).max()))
    np.testing.assert_allclose(Yhats, Yhats_torch, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(out, Yhats, rtol=1e-5, atol=atol)
    return out


def test_notebook_single_sample():
    """N = 1, T = 10 exactly as the notebook; torch's default initialisation."""
    run_notebook(N=1, T=10, np_seed=0, torch_seed=0)


def test_notebook_bonus_multiple_samples():
    """Bonus exercise: the output for several samples at once, same as one by one."""
    out = run_notebook(N=6, T=10, np_seed=1, torch_seed=1)
    model, ported = notebook_models(torch_seed=1)
    X = np.random.default_rng(1).standard_normal((6, 10, D)).astype(np.float32)
    for n in range(6):
        single = ported(X[n : n + 1])
        np.testing.assert_allclose(single, out[n : n + 1], rtol=1e-6, atol=1e-6)


@given(
    N=st.integers(1, 5),
    T=st.integers(1, 12),
    np_seed=st.integers(0, 2**32 - 1),
    torch_seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([0.5, 1.0, 2.0]),
)
@settings(max_examples=50)
def test_notebook_random_weights(N, T, np_seed, torch_seed, scale):
    """Random non-zero weights and biases in ±scale, any batch size."""
    run_notebook(N, T, np_seed, torch_seed, np.random.default_rng(np_seed + 1), scale)


def test_notebook_loop_float64_exact():
    """A float64 port agrees with the notebook's float64 loop to ~1e-12."""
    rng = np.random.default_rng(7)
    rnn = nn.RNN(input_size=D, hidden_size=M, nonlinearity="tanh", batch_first=True,
                 dtype=np.float64)
    fc = nn.Linear(M, K, dtype=np.float64)
    rnn.load_state_dict({k: rng.uniform(-1, 1, v.shape) for k, v in rnn.state_dict().items()})
    fc.load_state_dict({k: rng.uniform(-1, 1, v.shape) for k, v in fc.state_dict().items()})
    X = rng.standard_normal((4, 10, D))
    out, h_n = rnn(X, np.zeros((1, X.shape[0], M)))
    y = fc(out)
    assert y.dtype == np.float64
    W_xh, W_hh, b_xh, b_hh = rnn.parameters()
    Wo, bo = fc.parameters()
    np.testing.assert_allclose(y, notebook_loop(X, W_xh, W_hh, b_xh, b_hh, Wo, bo),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n[0], out[:, -1, :], rtol=0, atol=0)


def test_state_dict_from_torch_tensors_requiring_grad():
    """The notebook's model has grad-tracking parameters; load them directly."""
    torch.manual_seed(3)
    model = TorchSimpleRNN(D, M, K)
    ported = SimpleRNN(D, M, K)
    ported.load_state_dict(dict(model.named_parameters()))
    X = np.random.default_rng(3).standard_normal((2, 10, D)).astype(np.float32)
    assert_close(ported(X), model(torch.from_numpy(X)), np.float32)
