"""NumPy .npz / .npy files: read without pickle, sizes checked before allocating."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from _ckpt_utils import load_bytes, make_zip, zip_records

from numrnn.checkpoint import CheckpointError, load, save


def _npz(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


ARRAYS = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.arange(3),
          "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "b": np.array([True, False]),
          "c": np.array([1 + 2j], np.complex128), "s": np.float16(3.5) * np.ones(()),
          "e": np.zeros((0, 5)), "be": np.arange(4, dtype=">i4")}


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_written_by_numpy(compressed):
    loaded = load_bytes(_npz(compressed, **ARRAYS))
    assert list(loaded) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].flags.writeable


@pytest.mark.parametrize("name", list(ARRAYS))
def test_npy_written_by_numpy(name):
    loaded = load_bytes(_npy(ARRAYS[name]))
    np.testing.assert_array_equal(loaded, ARRAYS[name])
    assert loaded.dtype == ARRAYS[name].dtype


def test_object_arrays_are_refused_without_unpickling():
    with pytest.raises(CheckpointError, match="pickle"):
        load_bytes(_npy(np.array([{"a": 1}], dtype=object)))
    with pytest.raises(CheckpointError, match="pickle"):
        load_bytes(_npz(x=np.array([None, 1], dtype=object)))


def test_lying_npy_header_fails_fast():
    good = _npy(np.zeros(4, np.float32))
    lying = good.replace(b"(4,)", b"(10000000000000,)".ljust(4, b" ")[:len(b"(4,)")])
    header = good[:good.index(b"(4,)")] + b"(99999999999,)" + good[good.index(b"(4,)") + 4:]
    for data in (lying, header[:len(good)], good[:-3]):
        start = time.perf_counter()
        with pytest.raises(CheckpointError):
            load_bytes(data)
        assert time.perf_counter() - start < 1.0


def test_save_npz_round_trip_and_exact_repeatability(tmp_path):
    arrays = {k: v for k, v in ARRAYS.items()}
    first, second = io.BytesIO(), io.BytesIO()
    save(arrays, first, format="npz")
    save(arrays, second, format="npz")
    assert first.getvalue() == second.getvalue()
    with np.load(io.BytesIO(first.getvalue()), allow_pickle=False) as theirs:
        for name, array in arrays.items():
            np.testing.assert_array_equal(theirs[name], array)
    path = tmp_path / "a.npz"
    save({"file": np.ones(2), "allow_pickle": np.zeros(1)}, path)  # names np.savez chokes on
    loaded = load(path, mmap=True)
    assert isinstance(loaded["file"], np.memmap) and not loaded["file"].flags.writeable


def test_zip_that_is_neither_torch_nor_npz():
    with pytest.raises(CheckpointError, match="neither"):
        load_bytes(make_zip({"readme.txt": b"hello"}))


def test_npz_entry_size_lies():
    records = zip_records(_npz(w=np.ones(8)))
    records["w.npy"] = records["w.npy"][:-8]  # header says 8 doubles, 7 are there
    with pytest.raises(CheckpointError):
        load_bytes(make_zip(records))
