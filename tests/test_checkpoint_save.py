"""numrnn.save: torch zip files that torch reads back exactly, and format selection."""

from __future__ import annotations

import collections
import io
import zipfile

import numpy as np
import pytest
import torch
from _ckpt_utils import load_bytes, torch_bytes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numrnn.checkpoint import load, save

TORCH_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                "float64", "complex64", "complex128", "uint16", "uint32", "uint64"]


def _torch_file(obj) -> bytes:
    buf = io.BytesIO()
    save(obj, buf, format="torch")
    return buf.getvalue()


@given(arrays=st.dictionaries(
    st.text(min_size=1, max_size=6),
    hnp.arrays(st.sampled_from(TORCH_DTYPES), hnp.array_shapes(min_dims=0, max_dims=3,
                                                               min_side=0, max_side=4)),
    max_size=4))
def test_torch_reads_our_files_exactly(arrays):
    theirs = torch.load(io.BytesIO(_torch_file(arrays)), weights_only=True)
    assert list(theirs) == list(arrays)
    for name, array in arrays.items():
        t = theirs[name]
        assert tuple(t.shape) == array.shape
        assert str(t.dtype) == f"torch.{array.dtype.name}"
        np.testing.assert_array_equal(t.numpy(), array)


def test_containers_and_views_survive_torch():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    obj = {"model": collections.OrderedDict(w=base.T, s=base[::2, 1:]), "epoch": 7,
           "lr": 1e-3, "name": "x", "flags": [True, None, (1, 2)], "raw": b"\x00\xff",
           "big": 2**70, "set": {1, 2}}
    theirs = torch.load(io.BytesIO(_torch_file(obj)), weights_only=True)
    assert isinstance(theirs["model"], collections.OrderedDict)
    np.testing.assert_array_equal(theirs["model"]["w"].numpy(), base.T)
    np.testing.assert_array_equal(theirs["model"]["s"].numpy(), base[::2, 1:])
    for key in ("epoch", "lr", "name", "raw", "big", "set"):
        assert theirs[key] == obj[key]
    assert theirs["flags"] == [True, None, (1, 2)]
    ours = load_bytes(_torch_file(obj))
    np.testing.assert_array_equal(ours["model"]["w"], base.T)


def test_layout_is_torchs():
    data = _torch_file({"w": np.ones((3, 3), np.float32), "b": np.ones(2, np.int64)})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[0] == "archive/data.pkl" and "archive/byteorder" in names
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            if "/data/" in info.filename:  # 64-byte aligned like torch's own files
                start = info.header_offset + 30 + len(info.filename) + len(info.extra)
                assert start % 64 == 0
    assert _torch_file({"w": np.ones(3)}) == _torch_file({"w": np.ones(3)})  # reproducible


def test_torch_tensors_and_whole_modules_can_be_saved(tmp_path):
    model = torch.nn.Linear(3, 2)
    save(model.state_dict(), tmp_path / "a.pt")
    save(load_bytes(torch_bytes(model)), tmp_path / "b.safetensors")
    for path in (tmp_path / "a.pt", tmp_path / "b.safetensors"):
        sd = load(path)
        np.testing.assert_array_equal(sd["weight"], model.weight.detach().numpy())


@pytest.mark.parametrize("suffix, expected", [(".pt", "torch"), (".pth", "torch"),
                                              (".safetensors", "safetensors"), (".npz", "npz")])
def test_format_from_suffix(tmp_path, suffix, expected):
    path = tmp_path / f"w{suffix}"
    save({"w": np.ones(2, np.float32)}, path)
    head = path.read_bytes()[:4]
    assert (head == b"PK\x03\x04") == (expected in ("torch", "npz"))
    np.testing.assert_array_equal(load(path)["w"], 1)


def test_format_argument_overrides_suffix(tmp_path):
    path = tmp_path / "w.pt"
    save({"w": np.ones(2)}, path, format="safetensors")
    assert path.read_bytes()[8:9] == b"{"


def test_unknown_formats_are_clear_value_errors(tmp_path):
    with pytest.raises(ValueError, match="format"):
        save({"w": np.ones(2)}, tmp_path / "w.h5")
    with pytest.raises(ValueError, match="format"):
        save({"w": np.ones(2)}, tmp_path / "w.pt", format="onnx")
    with pytest.raises(ValueError, match="format"):
        save({"w": np.ones(2)}, io.BytesIO())
    with pytest.raises(TypeError):
        save({"w": np.array(["a"])}, io.BytesIO(), format="torch")
    with pytest.raises(TypeError):
        save({"w": object()}, io.BytesIO(), format="torch")


@pytest.mark.parametrize("alias", ["pt", "pth", "torch"])
def test_format_aliases(alias):
    buf = io.BytesIO()
    save({"w": np.ones(2)}, buf, format=alias)
    assert buf.getvalue()[:4] == b"PK\x03\x04"
