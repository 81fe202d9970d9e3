"""Loading files torch wrote (zip and legacy formats) without torch, against torch.load."""

from __future__ import annotations

import collections
import io
import struct

import numpy as np
import pytest
import torch
from _ckpt_utils import (
    assert_same,
    load_bytes,
    make_zip,
    torch_bytes,
    torch_load,
    zip_records,
)
from hypothesis import given
from hypothesis import strategies as st

from numrnn.checkpoint import (
    CheckpointError,
    StandIn,
    UnsafeCheckpointError,
    load,
    save,
    state_dict_from,
)

FORMATS = [pytest.param(False, id="zip"), pytest.param(True, id="legacy")]

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64,
          torch.complex128, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
          torch.bool, torch.uint16, torch.uint32, torch.uint64, torch.complex32]


def _sample(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if dtype == torch.bool:
        return torch.rand(3, 4, generator=g) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        real = torch.randn(3, 4, generator=g, dtype=torch.float64) * 100
        if dtype == torch.complex32:
            return torch.complex(real.half(), real.half() * -1)
        return real.to(dtype)
    info = torch.iinfo(dtype)
    low, high = max(info.min, -(2**62)), min(info.max, 2**62)
    values = torch.tensor([info.min, info.max, 0, 1, low // 3, high // 3], dtype=torch.int64
                          if dtype != torch.uint64 else torch.float64)
    return values.to(dtype).reshape(2, 3)


@pytest.mark.parametrize("legacy", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_storage_dtype(dtype, legacy):
    t = _sample(dtype)
    loaded = load_bytes(torch_bytes({"t": t}, legacy=legacy))["t"]
    if dtype == torch.complex32:
        expected = t.to(torch.complex64).numpy()
    else:
        expected = t.float().numpy() if dtype == torch.bfloat16 else t.numpy()
    assert loaded.dtype == expected.dtype
    np.testing.assert_array_equal(loaded, expected)
    assert loaded.flags.writeable


def test_bfloat16_is_exact_float32():
    bits = torch.arange(0, 65536, 7, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)
    loaded = load_bytes(torch_bytes(bits))
    np.testing.assert_array_equal(loaded.view(np.uint32), bits.float().numpy().view(np.uint32))


@pytest.mark.parametrize("legacy", FORMATS)
def test_views_share_storage_like_torch(legacy):
    base = torch.randn(6, 8, dtype=torch.float64)
    obj = {
        "base": base,
        "transposed": base.t(),
        "stepped": base[1::2, ::3],
        "offset": base[3:, 2:5],
        "expanded": torch.randn(4, 1).expand(4, 5),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "column": base[:, 3],
    }
    data = torch_bytes(obj, legacy=legacy)
    ours, theirs = load_bytes(data), torch_load(data)
    assert_same(ours, theirs)
    assert ours["expanded"].strides[1] == 0
    for name in ("transposed", "stepped", "offset", "column"):
        assert np.shares_memory(ours[name], ours["base"]), name
    ours["base"][1, 0] = 123.0  # one storage, as in torch
    assert ours["transposed"][0, 1] == 123.0


@given(rows=st.integers(1, 6), cols=st.integers(1, 6), start=st.integers(0, 3),
       step=st.integers(1, 3), transpose=st.booleans())
def test_arbitrary_slices(rows, cols, start, step, transpose):
    base = torch.arange(float(rows * cols * 3)).reshape(rows * 3, cols)
    view = base[start::step]
    view = view.t() if transpose else view
    obj = {"view": view, "base": base}
    assert_same(load_bytes(torch_bytes(obj)), obj)


@pytest.mark.parametrize("legacy", FORMATS)
def test_training_checkpoint_loads_whole(legacy):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    obj = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 7,
           "loss": 0.25, "name": "run-1", "flags": (True, False, None), "tags": {"a", "b"},
           "raw": b"\x00\xffbytes", "big": 2**80, "neg": -(2**40), "c": 1 + 2j,
           "ordered": collections.OrderedDict(a=1), "nested": [[1, [2, [3]]]],
           "frozen": frozenset({1, 2})}
    data = torch_bytes(obj, legacy=legacy)
    ours, theirs = load_bytes(data), torch_load(data, weights_only=False)  # frozenset
    assert_same(ours, theirs)
    assert isinstance(ours["model"], collections.OrderedDict)
    assert ours["model"]._metadata == theirs["model"]._metadata


@pytest.mark.parametrize("legacy", FORMATS)
@pytest.mark.parametrize("kind", ["RNN+Linear", "LSTM", "GRU", "Sequential", "DataParallel"])
def test_whole_module_state_dict(kind, legacy):
    torch.manual_seed(0)
    if kind == "RNN+Linear":
        model = _RNNModel()
    elif kind == "LSTM":
        model = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2)
    elif kind == "GRU":
        model = torch.nn.GRU(4, 5, batch_first=True, bias=False)
    elif kind == "DataParallel":  # CPU-only DataParallel: a wrapper whose child is "module"
        model = torch.nn.DataParallel(_RNNModel(), device_ids=[])
    else:
        model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.LSTM(4, 3),
                                    torch.nn.BatchNorm1d(3))
    obj = load_bytes(torch_bytes(model, legacy=legacy))
    assert isinstance(obj, StandIn)
    ours, theirs = state_dict_from(obj), model.state_dict()
    assert list(ours) == list(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key].numpy())


class _RNNModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.RNN(3, 5, batch_first=True)
        self.fc = torch.nn.Linear(5, 2)
        self.register_buffer("scratch", torch.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


def test_whole_module_standins_run_nothing_and_read_like_torch():
    model = _RNNModel()
    obj = load_bytes(torch_bytes(model))
    assert obj.qualname.endswith("_RNNModel")
    assert obj.rnn.qualname == "torch.nn.modules.rnn.RNN"
    assert obj.rnn.hidden_size == 5 and obj.rnn.batch_first is True
    np.testing.assert_array_equal(obj.fc.weight, model.fc.weight.detach().numpy())
    with pytest.raises(AttributeError):
        obj.rnn.nothing_here  # noqa: B018
    with pytest.raises(AttributeError):
        obj.fc = 1
    assert "scratch" not in state_dict_from(obj)  # non-persistent buffers stay out


def test_state_dict_from_a_state_dict_and_refusals():
    sd = {"w": np.ones(2)}
    assert state_dict_from(sd) == sd
    with pytest.raises(TypeError):
        state_dict_from([1, 2])


def test_whole_module_runs_in_numrnn():
    import numrnn as nn

    torch.manual_seed(1)
    model = _RNNModel()
    ours = nn.Sequential()  # only a container; build the same layers by hand
    rnn, fc = nn.RNN(3, 5, batch_first=True), nn.Linear(5, 2)
    sd = state_dict_from(load_bytes(torch_bytes(model)))
    rnn.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    fc.load_state_dict({k[3:]: v for k, v in sd.items() if k.startswith("fc.")})
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(fc(rnn(x)[0]), expected, rtol=1e-5, atol=1e-6)
    assert ours is not None


def test_cuda_location_loads_like_cpu():
    data = torch_bytes({"w": torch.randn(3, 2)})
    records = zip_records(data)
    name = next(n for n in records if n.endswith("data.pkl"))
    records[name] = records[name].replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    assert b"cuda:0" in records[name]
    patched = make_zip(records)
    np.testing.assert_array_equal(load_bytes(patched)["w"], torch_load(data)["w"].numpy())


def test_big_endian_byteorder_record():
    obj = {"f": torch.randn(3, 2, dtype=torch.float64), "i": torch.arange(5, dtype=torch.int32),
           "h": torch.randn(4).bfloat16()}
    data = torch_bytes(obj)
    records = zip_records(data)
    root = next(n for n in records if n.endswith("data.pkl"))[:-len("data.pkl")]
    item = {"0": 8, "1": 4, "2": 2}
    for key, size in item.items():
        raw = np.frombuffer(records[f"{root}data/{key}"], f"<u{size}")
        records[f"{root}data/{key}"] = raw.astype(f">u{size}").tobytes()
    records[f"{root}byteorder"] = b"big"
    patched = make_zip(records)
    assert_same(load_bytes(patched), torch_load(patched))
    assert_same(load_bytes(patched), obj)


def test_compressed_entries_and_other_root_names():
    data = torch_bytes({"w": torch.randn(4, 4), "n": 3})
    records = {name.replace("archive/", "my_model/"): value
               for name, value in zip_records(data).items()}
    assert_same(load_bytes(make_zip(records, compress=True)), torch_load(data))


def test_mmap_gives_read_only_memory_maps(tmp_path):
    obj = {"w": torch.randn(64, 32), "t": torch.randn(8, 4).t(), "b": torch.randn(3).bfloat16()}
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    loaded = load(path, mmap=True)
    assert_same(loaded, obj)
    for name in ("w", "t"):
        assert isinstance(loaded[name], np.memmap) and not loaded[name].flags.writeable
    assert loaded["b"].flags.writeable  # bfloat16 had to be converted
    plain = load(path)
    assert all(a.flags.writeable and not isinstance(a, np.memmap) for a in plain.values())


def test_paths_and_file_objects(tmp_path):
    obj = {"w": torch.randn(2, 3)}
    path = tmp_path / "w.pth"
    torch.save(obj, path)
    with open(path, "rb") as handle:
        assert_same(load(handle), obj)
    with open(path, "rb") as handle:
        assert_same(load(handle, mmap=True), obj)
    assert_same(load(str(path)), obj)
    prefixed = io.BytesIO(b"junk" + path.read_bytes())
    prefixed.seek(4)  # read from the current position, like torch.load
    assert_same(load(prefixed), obj)


def test_tensor_subclass_state_and_parameters():
    p = torch.nn.Parameter(torch.randn(3))
    t = torch.randn(2)
    t.note = "hello"  # pickled through _rebuild_from_type_v2
    obj = {"p": p, "t": t, "neg": torch.randn(2, dtype=torch.complex64).conj()}
    data = torch_bytes(obj)
    assert_same(load_bytes(data), torch_load(data, weights_only=False))


def test_round_trip_through_numrnn_save_and_torch():
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "epoch": 7}
    buf = io.BytesIO()
    save(obj, buf, format="torch")
    assert load_bytes(buf.getvalue())["epoch"] == 7


@pytest.mark.parametrize("legacy", FORMATS)
def test_numpy_values_in_checkpoints(legacy):
    obj = {"best": np.float64(0.875), "step": np.int64(12), "flag": np.bool_(True),
           "history": np.linspace(0, 1, 5, dtype=np.float32), "grid": np.ones((2, 3), ">f8"),
           "w": torch.ones(2)}
    ours = load_bytes(torch_bytes(obj, legacy=legacy))
    for key in ("best", "step", "flag", "history", "grid"):
        assert type(ours[key]) is type(obj[key]) and ours[key].dtype == obj[key].dtype
        np.testing.assert_array_equal(ours[key], obj[key])
    assert ours["history"].flags.writeable


def test_unsupported_tensor_kinds_are_checkpoint_errors():
    data = torch_bytes({"q": torch.quantize_per_tensor(torch.randn(3), 0.1, 0, torch.qint8)})
    with pytest.raises(CheckpointError, match="not supported") as info:
        load_bytes(data)
    assert not isinstance(info.value, UnsafeCheckpointError)
    with pytest.raises(CheckpointError, match="not supported"):
        load_bytes(torch_bytes({"s": torch.eye(3).to_sparse()}))


def _legacy_file(main: bytes, keys: list[str], records: list[bytes], little: bool = True
                 ) -> bytes:
    """A legacy checkpoint assembled by hand from its parts."""
    import pickle

    magic = pickle.dumps(0x1950A86A20F9469CFC6C, 2)
    info = {"protocol_version": 1001, "little_endian": little,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (magic + pickle.dumps(1001, 2) + pickle.dumps(info, 2) + main
            + pickle.dumps(keys, 2) + b"".join(records))


def _main_pickle(pid: tuple, offset: int, size: tuple, stride: tuple) -> bytes:
    import pickle

    marker = object()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return pid if obj is marker else None

    class Reduce:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (marker, offset, size, stride, False,
                                                      collections.OrderedDict())

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"t": Reduce()})
    return buf.getvalue()


@pytest.mark.parametrize("little", [True, False])
def test_legacy_byte_order_and_storage_views(little):
    values = np.arange(6, dtype=np.float64)
    order = "<" if little else ">"
    record = struct.pack(order + "q", 6) + values.astype(order + "f8").tobytes()
    # a legacy storage view: elements [2, 5) of the root storage
    pid = ("storage", torch.DoubleStorage, "root", "cpu", 6, ("view", 2, 3))
    data = _legacy_file(_main_pickle(pid, 1, (2,), (1,)), ["root"], [record], little)
    t = load_bytes(data)["t"]
    assert t.dtype == np.float64 and t.flags.writeable
    np.testing.assert_array_equal(t, [3.0, 4.0])
    plain = ("storage", torch.DoubleStorage, "root", "cpu", 6, None)
    data = _legacy_file(_main_pickle(plain, 0, (3, 2), (1, 3)), ["root"], [record], little)
    np.testing.assert_array_equal(load_bytes(data)["t"], values.reshape(2, 3).T)
    if little:  # torch agrees on the files it can read
        np.testing.assert_array_equal(torch_load(data)["t"].numpy(), values.reshape(2, 3).T)


def test_legacy_storage_records_that_lie():
    pid = ("storage", torch.DoubleStorage, "root", "cpu", 6, None)
    main = _main_pickle(pid, 0, (6,), (1,))
    values = np.arange(6, dtype="<f8").tobytes()
    for keys, record in [(["root"], struct.pack("<q", 7) + values),  # count disagrees
                         (["root"], struct.pack("<q", 6) + values[:-1]),  # truncated
                         (["other"], struct.pack("<q", 6) + values),  # unknown key
                         (["root"], b"")]:
        with pytest.raises(CheckpointError):
            load_bytes(_legacy_file(main, keys, [record]))


def test_torchscript_archives_are_refused_with_advice(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        load(path)


def test_storage_repr_is_short():
    data = load_bytes(torch_bytes({"w": torch.zeros(1000)}))
    assert data["w"].shape == (1000,)
    from numrnn.checkpoint._tensors import Storage

    assert len(repr(Storage("0", None, 10**6, np.zeros(10**6, np.uint8)))) < 200


@pytest.mark.parametrize("legacy", FORMATS)
@pytest.mark.parametrize("protocol", [1, 2, 3, 4, 5])
def test_every_pickle_protocol_torch_can_write(protocol, legacy):
    obj = {"w": torch.randn(3, 2).t(), "sd": torch.nn.Linear(2, 2).state_dict(), "e": 7,
           "s": {1, 2}, "b": b"xy", "t": (1.5, "x", None)}
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    data = buf.getvalue()
    assert_same(load_bytes(data), torch_load(data, weights_only=False))


@pytest.mark.parametrize("legacy", FORMATS)
@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2], ids=str)
def test_float8_becomes_exact_float32(dtype, legacy):
    every = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(dtype)  # all 256 values
    loaded = load_bytes(torch_bytes({"t": every}, legacy=legacy))["t"]
    expected = every.float().numpy()
    assert loaded.dtype == np.float32
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(loaded), ~finite)
    np.testing.assert_array_equal(loaded[finite].view(np.uint32), expected[finite].view(np.uint32))


def test_unsupported_dtypes_are_not_called_unsafe():
    t = torch.zeros(2, dtype=torch.uint8).view(torch.float8_e4m3fnuz)
    with pytest.raises(CheckpointError, match="not supported") as info:
        load_bytes(torch_bytes(t))
    assert not isinstance(info.value, UnsafeCheckpointError)
