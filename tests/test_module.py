"""The Module base: registration, state dicts, traversal, modes, repr, pickle, threads."""

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from _threads import run_threads
from _torch_ref import assert_close, numpy_state, randomize_, state_signature, to_numpy, to_torch

import numrnn as nn


@pytest.fixture(autouse=True, scope="module")
def _torch_no_grad():
    """torch is only the oracle here: no autograd bookkeeping (it is slow)."""
    with torch.no_grad():
        yield

# ---------------------------------------------------------------------------------------
# Models written the way the torch tutorial writes them, once per library. They live at
# module level so that pickle can find the numrnn classes.


class SimpleRNN(nn.Module):
    def __init__(self, n_inputs=3, n_hidden=5, n_outputs=2):
        super().__init__()
        self.D = n_inputs
        self.M = n_hidden
        self.K = n_outputs
        self.rnn = nn.RNN(
            input_size=self.D, hidden_size=self.M, nonlinearity="tanh", batch_first=True
        )
        self.fc = nn.Linear(self.M, self.K)

    def forward(self, X):
        h0 = np.zeros((1, X.shape[0], self.M))
        out, _ = self.rnn(X, h0)
        return self.fc(out)


class TorchSimpleRNN(torch.nn.Module):
    def __init__(self, n_inputs=3, n_hidden=5, n_outputs=2):
        super().__init__()
        self.D = n_inputs
        self.M = n_hidden
        self.K = n_outputs
        self.rnn = torch.nn.RNN(
            input_size=self.D, hidden_size=self.M, nonlinearity="tanh", batch_first=True
        )
        self.fc = torch.nn.Linear(self.M, self.K)

    def forward(self, X):
        h0 = torch.zeros(1, X.size(0), self.M, dtype=X.dtype)
        out, _ = self.rnn(X, h0)
        return self.fc(out)


def _net_body(self, lib):
    self.encoder = lib.Sequential(lib.Linear(4, 6), lib.Tanh(), lib.Linear(6, 3, bias=False))
    self.rnn = lib.RNN(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    self.drop = lib.Dropout(0.1)
    self.act = lib.ReLU()
    self.head = lib.Sequential(lib.Identity(), lib.Linear(10, 2), lib.Sigmoid())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        _net_body(self, nn)

    def forward(self, x):
        out, h = self.rnn(self.encoder(x))
        return self.head(self.act(self.drop(out))), h


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        _net_body(self, torch.nn)

    def forward(self, x):
        out, h = self.rnn(self.encoder(x))
        return self.head(self.act(self.drop(out))), h


def _zoo_body(self, lib):
    self.embedding = lib.Embedding(12, 4, padding_idx=0)
    self.lstm = lib.LSTM(4, 6, num_layers=2, proj_size=3, bidirectional=True, batch_first=True)
    self.gru = lib.GRU(6, 5, batch_first=True)
    self.cells = lib.Sequential()
    self.rnn_cell = lib.RNNCell(5, 4, nonlinearity="relu")
    self.lstm_cell = lib.LSTMCell(4, 3)
    self.gru_cell = lib.GRUCell(3, 3, bias=False)
    self.fc = lib.Linear(3, 2)


def _zoo_forward(self, ids, cat):
    out, (h, c) = self.lstm(self.embedding(ids))  # [N, T, 6]
    out, h = self.gru(out)  # [N, T, 5]
    last = out[:, -1]
    h1 = self.rnn_cell(last)
    h2, c2 = self.lstm_cell(h1)
    h3 = self.gru_cell(h2, c2)
    return self.fc(h3), cat([h2, c2])


class Zoo(nn.Module):
    """Every layer type in one model."""

    def __init__(self):
        super().__init__()
        _zoo_body(self, nn)

    def forward(self, ids):
        return _zoo_forward(self, ids, lambda xs: np.concatenate(xs, axis=-1))


class TorchZoo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        _zoo_body(self, torch.nn)

    def forward(self, ids):
        return _zoo_forward(self, torch.as_tensor(ids), lambda xs: torch.cat(xs, dim=-1))


def torch_and_numrnn(torch_cls, numrnn_cls, seed=0):
    t = torch_cls().eval()
    randomize_(t, np.random.default_rng(seed))
    n = numrnn_cls()
    n.load_state_dict(numpy_state(t))
    return t, n


def snapshot(module):
    return {k: np.array(v, copy=True) for k, v in module.state_dict().items()}


def assert_state_equal(module, snap):
    state = module.state_dict()
    assert list(state) == list(snap)
    for k in snap:
        np.testing.assert_array_equal(state[k], snap[k], err_msg=k)


# ---------------------------------------------------------------------------------------
# Registration and forward


def test_tutorial_model_gets_torch_keys_and_outputs():
    t, n = torch_and_numrnn(TorchSimpleRNN, SimpleRNN)
    assert state_signature(SimpleRNN().state_dict()) == state_signature(
        TorchSimpleRNN().state_dict()
    )
    assert list(n.state_dict())[:2] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    x = np.random.default_rng(1).standard_normal((3, 7, 3)).astype(np.float32)
    assert_close(n(x), t(to_torch(x)), np.float32)


def test_nested_model_state_dict_matches_torch():
    t, n = torch_and_numrnn(TorchNet, Net)
    assert state_signature(Net().state_dict()) == state_signature(TorchNet().state_dict())
    state = n.state_dict()
    assert isinstance(state, dict)
    for key, value in t.state_dict().items():
        assert isinstance(state[key], np.ndarray)
        assert state[key].dtype == np.float32
        np.testing.assert_array_equal(state[key], to_numpy(value))
    x = np.random.default_rng(2).standard_normal((2, 5, 4)).astype(np.float32)
    y_t, h_t = t(to_torch(x))
    y_n, h_n = n(x)
    assert_close(y_n, y_t, np.float32)
    assert_close(h_n, h_t, np.float32)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_model_with_every_layer_type_matches_torch():
    t, n = torch_and_numrnn(TorchZoo, Zoo, seed=20)
    assert state_signature(Zoo().state_dict()) == state_signature(TorchZoo().state_dict())
    assert [k for k, _ in n.named_modules()] == [k for k, _ in t.named_modules()]
    ids = np.random.default_rng(21).integers(0, 12, size=(3, 7))
    for got, expected in zip(n(ids), t(ids)):
        assert_close(got, expected, np.float32)


def test_call_runs_forward_with_args_and_kwargs():
    class Echo(nn.Module):
        def forward(self, a, b=None, *, c=0):
            return ("forward", a, b, c)

    m = Echo()
    assert m(1, b=2, c=3) == ("forward", 1, 2, 3)
    assert m(4) == ("forward", 4, None, 0)
    assert m.forward(5, 6) == ("forward", 5, 6, 0)


def test_attribute_assignment_registers_and_replaces_children():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(2, 3)
            self.second = nn.Linear(3, 1)
            self.not_a_module = 7

    m = Holder()
    assert [name for name, _ in m.named_children()] == ["first", "second"]
    assert list(m.children())[0] is m.first
    m.first = nn.Linear(2, 3, bias=False)  # replacing keeps the position, like torch
    assert list(m.state_dict()) == ["first.weight", "second.weight", "second.bias"]
    assert m.not_a_module == 7


def test_children_added_after_construction_are_registered():
    m = nn.Module()
    m.layer = nn.Linear(2, 2)
    assert list(m.state_dict()) == ["layer.weight", "layer.bias"]


# ---------------------------------------------------------------------------------------
# Traversal, compared with torch


def test_traversal_names_and_order_match_torch():
    t, n = torch_and_numrnn(TorchNet, Net)
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in t.named_parameters()]
    for (k, p_n), (_, p_t) in zip(n.named_parameters(), t.named_parameters()):
        assert isinstance(p_n, np.ndarray)
        np.testing.assert_array_equal(p_n, to_numpy(p_t), err_msg=k)
    params_n = list(n.parameters())
    params_t = list(t.parameters())
    assert len(params_n) == len(params_t)
    for p_n, p_t in zip(params_n, params_t):
        np.testing.assert_array_equal(p_n, to_numpy(p_t))
    assert [k for k, _ in n.named_children()] == [k for k, _ in t.named_children()]
    assert [type(c).__name__ for c in n.children()] == [type(c).__name__ for c in t.children()]
    names_n = [k for k, _ in n.named_modules()]
    names_t = [k for k, _ in t.named_modules()]
    assert names_n == names_t
    assert names_n[0] == ""
    assert [type(m).__name__ for m in n.modules()][1:] == [
        type(m).__name__ for m in t.modules()
    ][1:]
    assert next(iter(n.modules())) is n
    assert dict(n.named_modules())["encoder.2"] is n.encoder[2]


def test_parameters_are_the_attributes():
    n = Net()
    first = next(iter(n.parameters()))
    assert first is n.encoder[0].weight
    named = dict(n.named_parameters())
    assert named["rnn.weight_hh_l1_reverse"] is n.rnn.weight_hh_l1_reverse


def test_shared_submodule_like_torch():
    def build(lib):
        m = lib.Module()
        shared = lib.Linear(2, 2)
        m.a = shared
        m.b = shared
        return m

    t, n = build(torch.nn), build(nn)
    assert [k for k, _ in n.named_modules()] == [k for k, _ in t.named_modules()]
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert list(n.state_dict()) == list(t.state_dict())


# ---------------------------------------------------------------------------------------
# load_state_dict


def test_load_state_dict_returns_named_tuple():
    t, n = torch_and_numrnn(TorchSimpleRNN, SimpleRNN)
    result = n.load_state_dict(numpy_state(t))
    assert isinstance(result, tuple)
    assert result._fields == ("missing_keys", "unexpected_keys")
    missing, unexpected = result
    assert list(missing) == [] and list(unexpected) == []
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []


def test_state_dict_error_is_exported_value_error():
    assert issubclass(nn.StateDictError, ValueError)


def _broken_state(t):
    """torch's state with 2 keys missing, 2 unexpected, 2 shape mismatches."""
    state = numpy_state(t)
    del state["rnn.bias_hh_l0"]
    del state["fc.bias"]
    state["rnn.weight_ih_l1"] = np.ones((5, 5), np.float32)
    state["extra.thing"] = np.ones(3, np.float32)
    state["fc.weight"] = np.ones((3, 5), np.float32)
    state["rnn.weight_hh_l0"] = np.ones((5, 4), np.float32)
    return state


def test_strict_load_lists_every_problem_and_changes_nothing():
    t, _ = torch_and_numrnn(TorchSimpleRNN, SimpleRNN, seed=1)
    n = SimpleRNN()
    before = snapshot(n)
    with pytest.raises(nn.StateDictError) as info:
        n.load_state_dict(_broken_state(t))
    message = str(info.value)
    for key in ["rnn.bias_hh_l0", "fc.bias", "rnn.weight_ih_l1", "extra.thing", "fc.weight",
                "rnn.weight_hh_l0"]:
        assert key in message, (key, message)
    assert re.search(r"3,\s*5", message) and re.search(r"2,\s*5", message), message
    assert re.search(r"5,\s*4", message) and re.search(r"5,\s*5", message), message
    # the valid keys (rnn.weight_ih_l0, rnn.bias_ih_l0) were not applied either
    assert_state_equal(n, before)


@pytest.mark.parametrize(
    "mutate,bad_key",
    [
        (lambda s: s.pop("fc.bias"), "fc.bias"),
        (lambda s: s.__setitem__("fc.extra", np.ones(2, np.float32)), "fc.extra"),
        (lambda s: s.__setitem__("fc.bias", np.ones(3, np.float32)), "fc.bias"),
        (lambda s: s.__setitem__("fc.bias", np.ones((2, 1), np.float32)), "fc.bias"),
    ],
    ids=["missing", "unexpected", "shape", "ndim"],
)
def test_each_single_problem_raises_and_changes_nothing(mutate, bad_key):
    t, _ = torch_and_numrnn(TorchSimpleRNN, SimpleRNN, seed=2)
    n = SimpleRNN()
    before = snapshot(n)
    state = numpy_state(t)
    mutate(state)
    with pytest.raises(nn.StateDictError, match=re.escape(bad_key)):
        n.load_state_dict(state)
    assert_state_equal(n, before)


def test_non_strict_load_reports_missing_and_unexpected():
    t, _ = torch_and_numrnn(TorchSimpleRNN, SimpleRNN, seed=3)
    n = SimpleRNN()
    before = snapshot(n)
    state = numpy_state(t)
    del state["fc.bias"]
    del state["rnn.bias_ih_l0"]
    state["extra.a"] = np.ones(1, np.float32)
    state["fc.weight2"] = np.ones(1, np.float32)
    missing, unexpected = n.load_state_dict(state, strict=False)
    assert sorted(missing) == ["fc.bias", "rnn.bias_ih_l0"]
    assert sorted(unexpected) == ["extra.a", "fc.weight2"]
    after = n.state_dict()
    for key in ["fc.bias", "rnn.bias_ih_l0"]:
        np.testing.assert_array_equal(after[key], before[key])
    for key in ["fc.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_hh_l0"]:
        np.testing.assert_array_equal(after[key], state[key])


def test_non_strict_load_still_rejects_shape_mismatch():
    t, _ = torch_and_numrnn(TorchSimpleRNN, SimpleRNN, seed=4)
    n = SimpleRNN()
    before = snapshot(n)
    state = numpy_state(t)
    state["fc.weight"] = np.ones((3, 5), np.float32)
    with pytest.raises(nn.StateDictError, match=re.escape("fc.weight")):
        n.load_state_dict(state, strict=False)
    assert_state_equal(n, before)


def _value_variants(t):
    params = dict(t.named_parameters())
    return {
        "numpy": numpy_state(t),
        "lists": {k: v.tolist() for k, v in numpy_state(t).items()},
        "tensors": dict(t.state_dict()),
        "requires_grad": {k: params[k] for k in t.state_dict()},
        "float64_tensors": {k: v.double() for k, v in t.state_dict().items()},
        "float64_numpy": {k: v.astype(np.float64) for k, v in numpy_state(t).items()},
        "float16_numpy": {k: v.astype(np.float16) for k, v in numpy_state(t).items()},
    }


@pytest.mark.parametrize(
    "variant",
    ["numpy", "lists", "tensors", "requires_grad", "float64_tensors", "float64_numpy",
     "float16_numpy"],
)
def test_load_accepts_array_likes_and_casts(variant):
    t = TorchSimpleRNN().eval()
    randomize_(t, np.random.default_rng(5))
    if variant == "float16_numpy":  # make the float16 round trip exact
        t.load_state_dict({k: v.half().float() for k, v in t.state_dict().items()})
    state = _value_variants(t)[variant]
    n = SimpleRNN()
    missing, unexpected = n.load_state_dict(state)
    assert list(missing) == [] and list(unexpected) == []
    for key, value in n.state_dict().items():
        assert isinstance(value, np.ndarray)
        assert value.dtype == np.float32, (key, value.dtype)
        np.testing.assert_array_equal(value, to_numpy(t.state_dict()[key]), err_msg=key)
    x = np.random.default_rng(6).standard_normal((2, 4, 3)).astype(np.float32)
    assert_close(n(x), t(to_torch(x)), np.float32)


def test_load_into_float64_model_casts_up():
    t = TorchSimpleRNN().eval()
    randomize_(t, np.random.default_rng(7))
    n = nn.RNN(3, 5, batch_first=True, dtype=np.float64)
    sub = {k[len("rnn."):]: v for k, v in numpy_state(t).items() if k.startswith("rnn.")}
    n.load_state_dict(sub)
    for key, value in n.state_dict().items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, sub[key].astype(np.float64))


def test_load_copies_the_values():
    t = TorchSimpleRNN().eval()
    randomize_(t, np.random.default_rng(8))
    state = numpy_state(t)
    n = SimpleRNN()
    n.load_state_dict(state)
    x = np.random.default_rng(9).standard_normal((2, 4, 3)).astype(np.float32)
    before = n(x)
    for value in state.values():
        value[...] = 0.0
    np.testing.assert_array_equal(n(x), before)
    assert_close(n(x), t(to_torch(x)), np.float32)


def test_state_dict_then_load_round_trip_between_numrnn_models():
    t, a = torch_and_numrnn(TorchNet, Net, seed=10)
    b = Net()
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(11).standard_normal((2, 5, 4)).astype(np.float32)
    ya, ha = a(x)
    yb, hb = b(x)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(ha, hb)


# ---------------------------------------------------------------------------------------
# Modes and repr


def test_train_and_eval_record_mode_and_return_self():
    t, n = TorchNet(), Net()
    assert n.training is t.training is True
    assert n.eval() is n
    assert n.training is False
    assert all(m.training is False for m in n.modules())
    assert n.train() is n
    assert all(m.training is True for m in n.modules())
    assert n.train(False) is n
    assert all(m.training is False for m in n.modules())
    n.train(True)
    n.rnn.eval()
    t.train()
    t.rnn.eval()
    assert [m.training for m in n.modules()] == [m.training for m in t.modules()]


def test_mode_does_not_change_outputs():
    t, n = torch_and_numrnn(TorchNet, Net, seed=12)
    x = np.random.default_rng(13).standard_normal((2, 5, 4)).astype(np.float32)
    y_eval, _ = n.eval()(x)
    y_train, _ = n.train()(x)
    np.testing.assert_array_equal(y_eval, y_train)
    assert_close(y_train, t(to_torch(x))[0], np.float32)


REPR_CASES = [
    ("RNN", (3, 5), dict(batch_first=True)),
    ("RNN", (3, 5), dict()),
    ("RNN", (3, 5), dict(num_layers=2, bias=False, dropout=0.5, bidirectional=True)),
    ("LSTM", (3, 5), dict(proj_size=2)),
    ("LSTM", (3, 5), dict(num_layers=3, batch_first=True)),
    ("GRU", (3, 5), dict(bidirectional=True)),
    ("RNNCell", (3, 5), dict()),
    ("RNNCell", (3, 5), dict(nonlinearity="relu", bias=False)),
    ("LSTMCell", (3, 5), dict(bias=False)),
    ("GRUCell", (3, 5), dict()),
    ("Linear", (5, 2), dict()),
    ("Linear", (5, 2), dict(bias=False)),
    ("Embedding", (10, 3), dict()),
    ("Embedding", (10, 3), dict(padding_idx=0)),
    ("Identity", (), dict()),
    ("Tanh", (), dict()),
    ("ReLU", (), dict()),
    ("Sigmoid", (), dict()),
]


@pytest.mark.parametrize("name,args,kwargs", REPR_CASES)
def test_repr_like_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(
        getattr(torch.nn, name)(*args, **kwargs)
    )


def test_repr_of_containers_like_torch():
    def seq(lib):
        return lib.Sequential(lib.Linear(5, 2), lib.Tanh(), lib.Sequential(lib.ReLU()))

    assert repr(seq(nn)) == repr(seq(torch.nn))
    n_repr, t_repr = repr(SimpleRNN()), repr(TorchSimpleRNN())
    assert n_repr == t_repr.replace("TorchSimpleRNN", "SimpleRNN")
    assert n_repr == (
        "SimpleRNN(\n"
        "  (rnn): RNN(3, 5, batch_first=True)\n"
        "  (fc): Linear(in_features=5, out_features=2, bias=True)\n"
        ")"
    )


def test_dropout_repr_names_p():
    assert re.match(r"Dropout\(p=0\.2\b", repr(nn.Dropout(0.2)))


# ---------------------------------------------------------------------------------------
# Pickle, threads, import hygiene


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_pickle_round_trip_of_every_layer_type():
    t, n = torch_and_numrnn(TorchZoo, Zoo, seed=22)
    ids = np.random.default_rng(23).integers(0, 12, size=(2, 5))
    before = n(ids)
    clone = pickle.loads(pickle.dumps(n))
    for a, b in zip(before, clone(ids)):
        np.testing.assert_array_equal(a, b)
    assert_state_equal(clone, snapshot(n))
    assert repr(clone) == repr(n)


def test_pickle_round_trip_gives_identical_outputs():
    t, n = torch_and_numrnn(TorchNet, Net, seed=14)
    x = np.random.default_rng(15).standard_normal((3, 6, 4)).astype(np.float32)
    y, h = n(x)  # derived kernel weights (if any) exist now
    clone = pickle.loads(pickle.dumps(n))
    y2, h2 = clone(x)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h, h2)
    assert_state_equal(clone, snapshot(n))
    fresh = pickle.loads(pickle.dumps(SimpleRNN()))
    assert isinstance(fresh, SimpleRNN) and isinstance(fresh.rnn, nn.RNN)
    # the clone is independent of the original
    other = TorchNet().eval()
    randomize_(other, np.random.default_rng(16))
    clone.load_state_dict(numpy_state(other))
    np.testing.assert_array_equal(n(x)[0], y)
    assert_close(clone(x)[0], other(to_torch(x))[0], np.float32)


@pytest.mark.parametrize("fresh", [True, False], ids=["first-call-concurrent", "warm"])
def test_eight_threads_match_serial(fresh):
    t, serial_model = torch_and_numrnn(TorchNet, Net, seed=17)
    rng = np.random.default_rng(18)
    # different values in every thread; shapes shared by pairs of threads (i % 4), so
    # scratch state shared between calls shows, whether per shape or global
    inputs = [
        rng.standard_normal((1 + i % 2, 4 + i % 4, 4)).astype(np.float32) for i in range(8)
    ]
    expected = [serial_model(x) for x in inputs]
    model = Net()
    model.load_state_dict(numpy_state(t))
    if not fresh:
        model(inputs[0])
    results = run_threads(model, inputs)
    for (y_exp, h_exp), outs, x in zip(expected, results, inputs):
        for y, h in outs:
            np.testing.assert_array_equal(y, y_exp)
            np.testing.assert_array_equal(h, h_exp)
        assert_close(y_exp, t(to_torch(x))[0], np.float32)


def test_import_numrnn_does_not_import_torch():
    code = "import sys, numrnn; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = (
        "import sys, numrnn as nn, numpy as np\n"
        "m = nn.Sequential(nn.Linear(3, 3), nn.Tanh())\n"
        "out, h = nn.RNN(3, 4)(np.ones((2, 1, 3), np.float32))\n"
        "m.load_state_dict(m.state_dict())\n"
        "m(np.ones((2, 3)))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------
# Initialisation


@pytest.mark.parametrize("model", [Net, Zoo])
def test_manual_seed_makes_construction_reproducible(model):
    nn.manual_seed(1234)
    a = model()
    b = model()  # the generator moves on
    nn.manual_seed(1234)
    c = model()
    nn.manual_seed(4321)
    d = model()
    sa, sb, sc, sd = (m.state_dict() for m in (a, b, c, d))
    for key in sa:
        np.testing.assert_array_equal(sa[key], sc[key], err_msg=key)
        assert not np.array_equal(sa[key], sb[key]), key
        assert not np.array_equal(sa[key], sd[key]), key


def _check_uniform(values, bound, name):
    values = np.asarray(values, dtype=np.float64).ravel()
    assert values.size >= 2000, name
    assert np.all(np.abs(values) <= bound * (1 + 1e-6)), (name, np.abs(values).max(), bound)
    assert np.abs(values).max() > 0.97 * bound, (name, np.abs(values).max(), bound)
    # moments of U(-b, b): mean 0, variance b^2/3; quartiles at -b/2, 0, b/2
    assert abs(values.mean()) < 0.1 * bound, name
    assert abs(values.var() / (bound**2 / 3) - 1) < 0.1, name
    counts = np.histogram(values, bins=4, range=(-bound, bound))[0] / values.size
    np.testing.assert_allclose(counts, 0.25, atol=0.04, err_msg=name)


@pytest.mark.parametrize(
    "name,args,kwargs,hidden",
    [
        ("RNN", (30, 40), dict(num_layers=2, bidirectional=True), 40),
        ("RNN", (30, 20), dict(nonlinearity="relu", num_layers=3), 20),
        ("LSTM", (30, 25), dict(num_layers=2), 25),
        ("LSTM", (30, 25), dict(proj_size=7), 25),
        ("GRU", (30, 36), dict(bidirectional=True), 36),
        ("RNNCell", (60, 49), dict(), 49),
        ("LSTMCell", (30, 36), dict(), 36),
        ("GRUCell", (30, 36), dict(), 36),
    ],
)
def test_default_init_is_uniform_one_over_sqrt_hidden(name, args, kwargs, hidden):
    nn.manual_seed(0)
    layer = getattr(nn, name)(*args, **kwargs)
    bound = 1 / np.sqrt(hidden)
    state = layer.state_dict()
    _check_uniform(np.concatenate([v.ravel() for v in state.values()]), bound, name)
    for key, value in state.items():
        assert np.all(np.abs(value) <= bound * (1 + 1e-6)), key
        assert np.count_nonzero(value) == value.size, key  # no zero biases
        assert value.dtype == np.float32


def test_linear_default_init_like_torch():
    nn.manual_seed(0)
    layer = nn.Linear(64, 100)
    bound = 1 / np.sqrt(64)
    _check_uniform(layer.weight, bound, "weight")
    assert np.all(np.abs(layer.bias) <= bound) and np.abs(layer.bias).max() > 0.8 * bound
    assert np.count_nonzero(layer.bias) == layer.bias.size


def test_float64_layers_are_initialised_in_float64():
    nn.manual_seed(0)
    layer = nn.RNN(3, 4, dtype=np.float64)
    for value in layer.state_dict().values():
        assert value.dtype == np.float64


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("fresh", [True, False], ids=["first-call-concurrent", "warm"])
def test_eight_threads_match_serial_every_layer_type(fresh):
    t, serial_model = torch_and_numrnn(TorchZoo, Zoo, seed=24)
    rng = np.random.default_rng(25)
    inputs = [rng.integers(0, 12, size=(1 + i % 2, 3 + i % 4)) for i in range(8)]
    expected = [serial_model(ids) for ids in inputs]
    model = Zoo()
    model.load_state_dict(numpy_state(t))
    if not fresh:
        model(inputs[0])
    results = run_threads(model, inputs)
    for exp, outs, ids in zip(expected, results, inputs):
        for got in outs:
            for a, b in zip(got, exp):
                np.testing.assert_array_equal(a, b)
        assert_close(exp[0], t(ids)[0], np.float32)
