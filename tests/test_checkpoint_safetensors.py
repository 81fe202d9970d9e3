"""safetensors: exact bytes written, every validation rule, and the reference library."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import torch
from _ckpt_utils import load_bytes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numrnn.checkpoint import CheckpointError, load, save


def _bytes(tensors: dict) -> bytes:
    buf = io.BytesIO()
    save(tensors, buf, format="safetensors")
    return buf.getvalue()


def _file(header: dict, buffer: bytes, pad: bytes = b"") -> bytes:
    text = json.dumps(header).encode() + pad
    return struct.pack("<Q", len(text)) + text + buffer


def test_exact_bytes():
    data = _bytes({"a": np.array([1, 2], np.float32), "b": np.array([[7]], np.int64)})
    assert data == (
        b"p\x00\x00\x00\x00\x00\x00\x00"
        b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]}}  '
        b"\x00\x00\x80?\x00\x00\x00@\x07\x00\x00\x00\x00\x00\x00\x00"
    )


def test_exact_bytes_empty_and_scalar():
    assert _bytes({}) == b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    assert _bytes({"s": np.float64(0.5) * np.ones(())}) == (
        b"8\x00\x00\x00\x00\x00\x00\x00"
        b'{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}   '
        b"\x00\x00\x00\x00\x00\x00\xe0?")


DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32",
          "float32", "float64", "int64", "uint64", "complex64"]


@given(arrays=st.dictionaries(
    st.text(min_size=1, max_size=8),
    hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                         max_side=4)),
    max_size=4))
def test_round_trip(arrays):
    loaded = load_bytes(_bytes(arrays))
    assert list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].flags.writeable


def test_non_contiguous_and_big_endian_arrays_are_written_plainly():
    a = np.arange(12, dtype=">f8").reshape(3, 4).T
    loaded = load_bytes(_bytes({"a": a}))["a"]
    assert loaded.dtype == np.float64
    np.testing.assert_array_equal(loaded, a)


def test_reference_library_reads_ours_and_we_read_its():
    safetensors = pytest.importorskip("safetensors.numpy")
    arrays = {"w": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
              "i": np.arange(5, dtype=np.int64), "b": np.array([True, False])}
    theirs = safetensors.load(_bytes(arrays))
    for name in arrays:
        np.testing.assert_array_equal(theirs[name], arrays[name])
    ours = load_bytes(safetensors.save(arrays, metadata={"format": "np"}))
    for name in arrays:
        np.testing.assert_array_equal(ours[name], arrays[name])


def test_bf16_becomes_exact_float32():
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.randn(17).bfloat16()
    loaded = load_bytes(st_torch.save({"t": t, "f": t.float()}))
    assert loaded["t"].dtype == np.float32
    np.testing.assert_array_equal(loaded["t"], t.float().numpy())


def test_metadata_and_padding_accepted():
    data = _file({"__metadata__": {"k": "v"}, "x": {"dtype": "U8", "shape": [2],
                                                     "data_offsets": [0, 2]}},
                 b"\x01\x02", pad=b"   ")
    np.testing.assert_array_equal(load_bytes(data)["x"], [1, 2])


def test_mmap(tmp_path):
    path = tmp_path / "w.safetensors"
    save({"w": np.ones((4, 4), np.float32)}, path)
    w = load(path, mmap=True)["w"]
    assert isinstance(w, np.memmap) and not w.flags.writeable
    np.testing.assert_array_equal(w, 1)


BAD = {
    "overlap": ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                 "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"123"),
    "hole": ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}, b"12"),
    "size mismatch": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"1234"),
    "buffer longer": ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"12"),
    "buffer shorter": ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, b"12"),
    "begin after end": ({"a": {"dtype": "U8", "shape": [0], "data_offsets": [2, 0]}}, b"12"),
    "negative shape": ({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}}, b""),
    "float shape": ({"a": {"dtype": "U8", "shape": [1.5], "data_offsets": [0, 1]}}, b"1"),
    "unknown dtype": ({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, b"1"),
    "missing field": ({"a": {"dtype": "U8", "shape": [1]}}, b"1"),
    "not an object": ({"a": [1, 2]}, b""),
    "bad metadata": ({"__metadata__": {"k": 1}}, b""),
    "huge shape": ({"a": {"dtype": "F64", "shape": [2**40, 2**40],
                          "data_offsets": [0, 8]}}, b"12345678"),
}


@pytest.mark.parametrize("header, buffer", BAD.values(), ids=list(BAD))
def test_validation_rules(header, buffer):
    with pytest.raises(CheckpointError):
        load_bytes(_file(header, buffer))


def test_header_rules():
    good = _bytes({"a": np.ones(2, np.float32)})
    n = struct.unpack("<Q", good[:8])[0]
    with pytest.raises(CheckpointError, match="claims"):  # header longer than the file
        load_bytes(struct.pack("<Q", n + 100) + good[8:])
    with pytest.raises(CheckpointError, match="exceeds"):  # the 100 MB cap, file or not
        load_bytes(struct.pack("<Q", 100_000_001) + b"{" + b" " * 100_000_000)
    with pytest.raises(CheckpointError):  # duplicate keys
        dup = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' \
              b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
        load_bytes(struct.pack("<Q", len(dup)) + dup + b"x")
    with pytest.raises(CheckpointError):  # not UTF-8 JSON
        load_bytes(struct.pack("<Q", 4) + b"{\xff\xfe}")
    with pytest.raises(CheckpointError):  # deep JSON nesting
        deep = b"{" + b'"a":' + b"[" * 100000 + b"]" * 100000 + b"}"
        load_bytes(struct.pack("<Q", len(deep)) + deep)


def test_writer_refusals():
    with pytest.raises(TypeError):
        _bytes({"o": np.array([object()])})
    with pytest.raises(TypeError):
        _bytes([np.ones(2)])


def test_f8_becomes_exact_float32():
    st_torch = pytest.importorskip("safetensors.torch")
    bits = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    tensors = {"a": bits.view(torch.float8_e4m3fn), "b": bits.clone().view(torch.float8_e5m2)}
    loaded = load_bytes(st_torch.save(tensors))
    for name, t in tensors.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], t.float().numpy())
