"""The ``numrnn`` command: demo, inspect, convert, and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numrnn.checkpoint import load, save
from numrnn.cli import main, recognise_layers


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_matches_torch(capsys):
    code, out, err = _run(capsys, "demo")
    assert code == 0 and err == ""
    largest = float(re.search(r"largest difference: (\S+)", out).group(1))
    assert largest < 1e-5
    assert out.count("\n") >= 8 and "numrnn" in out and "torch" in out


def test_demo_data_is_what_torch_computes():
    """The bundled outputs are torch's for the bundled checkpoint and input."""
    from importlib import resources

    data = resources.files("numrnn") / "data"
    state = torch.load(data / "simple_rnn.pt", weights_only=True)
    io = load(data / "simple_rnn_io.npz")
    rnn = torch.nn.RNN(3, 5, batch_first=True)
    fc = torch.nn.Linear(5, 2)
    rnn.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
    fc.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("fc.")})
    with torch.no_grad():
        out = fc(rnn(torch.from_numpy(io["input"]))[0][:, -1])
    np.testing.assert_array_equal(out.numpy(), io["output"])


def test_python_dash_m_and_console_entry_point():
    out = subprocess.run([sys.executable, "-m", "numrnn", "demo"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "largest difference" in out.stdout


@pytest.mark.parametrize("legacy", [False, True])
def test_inspect_torch_state_dict(tmp_path, capsys, legacy):
    model = torch.nn.Module()
    model.rnn = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2)
    model.gru = torch.nn.GRU(4, 5, bias=False)
    model.cell = torch.nn.GRUCell(3, 7)
    model.fc = torch.nn.Linear(4, 2)
    model.embedding = torch.nn.Embedding(10, 4)
    path = tmp_path / "m.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path,
               _use_new_zipfile_serialization=not legacy)
    code, out, err = _run(capsys, "inspect", str(path))
    assert code == 0 and err == ""
    assert ("legacy" in out) == legacy
    assert "model.rnn.weight_ih_l0" in out and "(24, 3)" in out and "float32" in out
    assert "LSTM(input_size=3, hidden_size=6, num_layers=2, bias=True, bidirectional=True, " \
           "proj_size=2)" in out
    assert "GRU(input_size=4, hidden_size=5, num_layers=1, bias=False, " \
           "bidirectional=False)" in out
    assert "GRUCell(input_size=3, hidden_size=7, bias=True)" in out
    assert "Linear(in_features=4, out_features=2)" in out
    assert "model.embedding: Embedding(10, 4)" in out
    assert "epoch" in out  # non-tensor entries are listed
    assert "differ" not in out


@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), input_size=st.integers(1, 5),
       hidden=st.integers(1, 5), layers=st.integers(1, 3), bias=st.booleans(),
       bidirectional=st.booleans(), proj=st.integers(0, 4))
def test_recurrent_configuration_is_inferred(kind, input_size, hidden, layers, bias,
                                             bidirectional, proj):
    kwargs = dict(num_layers=layers, bias=bias, bidirectional=bidirectional)
    if kind == "LSTM" and 0 < proj < hidden:
        kwargs["proj_size"] = proj
    layer = getattr(torch.nn, kind)(input_size, hidden, **kwargs)
    sd = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    [(prefix, text)] = recognise_layers(sd)
    expected = (f"{kind}(input_size={input_size}, hidden_size={hidden}, num_layers={layers}, "
                f"bias={bias}, bidirectional={bidirectional}")
    assert prefix == "" and text.startswith(expected), text
    assert ("proj_size" in text) == ("proj_size" in kwargs)
    assert "differ" not in text


def test_inspect_whole_module_shows_classes(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.RNN(3, 5, nonlinearity="relu"), torch.nn.Linear(5, 2))
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    code, out, err = _run(capsys, "inspect", str(path))
    assert code == 0
    assert "torch.nn.modules.container.Sequential" in out
    assert "torch.nn.modules.rnn.RNN(input_size=3, hidden_size=5, num_layers=1, " \
           "nonlinearity='relu'" in out
    assert "0.weight_ih_l0" in out and "RNN(input_size=3" in out


@pytest.mark.parametrize("src_format", ["torch", "safetensors", "npz"])
@pytest.mark.parametrize("dst_suffix", [".pt", ".safetensors", ".npz"])
def test_convert_between_all_formats(tmp_path, capsys, src_format, dst_suffix):
    arrays = {"rnn.weight_ih_l0": np.random.default_rng(0).standard_normal((5, 3)),
              "fc.bias": np.arange(2, dtype=np.float32), "n": np.arange(3)}
    src = tmp_path / "src.bin"
    save(arrays, src, format=src_format)
    dst = tmp_path / f"dst{dst_suffix}"
    code, out, err = _run(capsys, "convert", str(src), str(dst))
    assert code == 0, err
    loaded = load(dst)
    assert list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    if dst_suffix == ".pt":
        theirs = torch.load(dst, weights_only=True)
        np.testing.assert_array_equal(theirs["fc.bias"].numpy(), arrays["fc.bias"])


def test_convert_training_checkpoint_and_whole_module(tmp_path, capsys):
    model = torch.nn.Linear(3, 2)
    src = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "epoch": 7}, src)
    code, out, err = _run(capsys, "convert", str(src), str(tmp_path / "o.safetensors"))
    assert code == 0 and "epoch" in err  # told what was left out
    assert set(load(tmp_path / "o.safetensors")) == {"model.weight", "model.bias"}
    torch.save(model, src)
    code, out, err = _run(capsys, "convert", str(src), str(tmp_path / "m.npz"))
    assert code == 0
    assert set(load(tmp_path / "m.npz")) == {"weight", "bias"}
    code, out, err = _run(capsys, "convert", str(src), str(tmp_path / "m.data"),
                          "--format", "torch")
    assert code == 0 and set(torch.load(tmp_path / "m.data", weights_only=True)) == {
        "weight", "bias"}


def _is_one_line_error(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("numrnn: error:") and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["inspect", "/nonexistent/file.pt"],
    ["convert", "/nonexistent/a.pt", "b.npz"],
    ["inspect", "{garbage}"],
    ["inspect", "{malicious}"],
    ["inspect", "{truncated}"],
    ["convert", "{good}", "{tmp}/out.h5"],
    ["convert", "{good}", "{tmp}/no/such/dir/out.npz"],
    ["inspect", "{tmp}"],
    ["frobnicate"],
    [],
    ["inspect"],
])
def test_errors_are_one_line_without_traceback(tmp_path, capsys, argv):
    files = {"garbage": b"hello world, not a checkpoint",
             "malicious": b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.",
             "truncated": b"PK\x03\x04" + b"\x00" * 40}
    paths = {"tmp": str(tmp_path)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    save({"w": np.ones(2)}, tmp_path / "good.npz")
    paths["good"] = str(tmp_path / "good.npz")
    code, out, err = _run(capsys, *[a.format(**paths) for a in argv])
    assert code != 0
    assert _is_one_line_error(err), err
    if argv and "malicious" in argv[-1]:
        assert "posix.system" in err


def test_errors_from_a_real_process_have_no_traceback(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x05\x06" + b"\xff" * 18)
    out = subprocess.run([sys.executable, "-m", "numrnn", "inspect", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and _is_one_line_error(out.stderr), out.stderr


def test_recognition_survives_odd_keys():
    """Lying layer numbers, 1-D weights and unknown gate multiples never crash or hang."""
    odd = {"a.weight_ih_l99999999999": np.zeros((4, 3)), "a.weight_ih_l0": np.zeros((4, 3)),
           "a.weight_hh_l0": np.zeros((4, 4)), "b.weight_hr_l0": np.zeros(3),
           "b.weight_ih_l0": np.zeros((8, 2)), "b.weight_hh_l0": np.zeros((8, 2)),
           "c.weight_ih": np.zeros(3), "c.weight_hh": np.zeros((3, 3)),
           "d.weight_ih_l0": np.zeros((10, 2)), "d.weight_hh_l0": np.zeros((10, 5)),
           "e.weight": np.zeros(3), "f.weight": np.zeros((0, 0)), "f.bias": np.zeros(0)}
    found = dict(recognise_layers(odd))
    assert "differ" in found["a"] and "differ" in found["b"]
    assert "c" not in found and "e" not in found
    assert found["f"] == "Linear(in_features=0, out_features=0)"
    assert "d" not in found  # 10 rows for hidden 5: no RNN has 2 gates
