"""Fuzzing valid files: whatever the bytes, ``load`` succeeds or raises CheckpointError.

Seeds are files torch, numpy and numrnn wrote. Mutations: byte flips, truncation
at every offset, mutated pickle opcodes inside an otherwise valid archive, and
lying size fields (zip directory, safetensors header, .npy shape, storage
sizes). Every case must also finish quickly, whatever it claims.
"""

from __future__ import annotations

import io
import json
import os
import struct
import time

import numpy as np
import pytest
import torch
from _ckpt_utils import make_zip, torch_bytes, zip_records
from hypothesis import given, settings
from hypothesis import strategies as st

from numrnn.checkpoint import CheckpointError, load, save

CASES = [0]  # fuzz cases run, reported at the end
SLOWEST = [0.0]


def _check(data: bytes, mmap_path: str | None = None) -> None:
    """One fuzz case: success or CheckpointError, and fast."""
    CASES[0] += 1
    start = time.perf_counter()
    try:
        if mmap_path is None:
            load(io.BytesIO(data))
        else:
            with open(mmap_path, "wb") as handle:
                handle.write(data)
            load(mmap_path, mmap=True)
    except CheckpointError:
        pass
    elapsed = time.perf_counter() - start
    SLOWEST[0] = max(SLOWEST[0], elapsed)
    assert elapsed < 2.0, f"{len(data)}-byte file took {elapsed:.2f}s"


def _seeds() -> dict[str, bytes]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LSTM(4, 2))
    state = {"model": model.state_dict(), "epoch": 7, "t": torch.randn(3, 4).t(),
             "h": torch.randn(2).bfloat16(), "u": torch.tensor([1, 2], dtype=torch.uint16)}
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.arange(3)}
    seeds = {
        "torch zip": torch_bytes(state),
        "torch legacy": torch_bytes(state, legacy=True),
        "whole module": torch_bytes(torch.nn.GRU(2, 3)),
    }
    for fmt in ("safetensors", "npz", "torch"):
        buf = io.BytesIO()
        save(arrays, buf, format=fmt)
        seeds[f"numrnn {fmt}"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, arrays["w"])
    seeds["npy"] = buf.getvalue()
    return seeds


SEEDS = _seeds()
NAMES = list(SEEDS)


@pytest.mark.parametrize("name", NAMES)
def test_seeds_load(name):
    load(io.BytesIO(SEEDS[name]))


@pytest.mark.parametrize("name", NAMES)
def test_truncation_at_every_offset(name):
    data = SEEDS[name]
    for end in range(len(data)):
        _check(data[:end])


@settings(max_examples=400)
@given(name=st.sampled_from(NAMES), flips=st.lists(
    st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_flips(name, flips):
    data = bytearray(SEEDS[name])
    for at, value in flips:
        data[at % len(data)] = value
    _check(bytes(data))


@settings(max_examples=200)
@given(name=st.sampled_from(NAMES), flips=st.lists(
    st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4))
def test_byte_flips_memory_mapped(name, flips, tmp_path_factory):
    data = bytearray(SEEDS[name])
    for at, value in flips:
        data[at % len(data)] = value
    _check(bytes(data), str(tmp_path_factory.mktemp("fuzz") / "f"))


PICKLE_SEEDS = ["torch zip", "whole module", "numrnn torch"]
OPCODES = list(b"().0123NIJKLMFGSTUVXBCPQRabcdeghijlopqrstu}]\x80\x81\x82\x83\x84\x85\x86"
               b"\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98")


def _pickle_record(records: dict[str, bytes]) -> str:
    return next(name for name in records if name.endswith("data.pkl"))


@settings(max_examples=500)
@given(name=st.sampled_from(PICKLE_SEEDS), edits=st.lists(st.tuples(
    st.sampled_from(["replace", "insert", "delete"]), st.integers(0, 1 << 16),
    st.one_of(st.sampled_from(OPCODES), st.integers(0, 255))), min_size=1, max_size=6))
def test_mutated_pickle_opcodes(name, edits):
    records = zip_records(SEEDS[name])
    key = _pickle_record(records)
    pkl = bytearray(records[key])
    for kind, at, value in edits:
        at %= len(pkl) + (kind == "insert")
        if kind == "replace" and at < len(pkl):
            pkl[at] = value
        elif kind == "insert":
            pkl.insert(at, value)
        elif len(pkl) > 1:
            del pkl[at % len(pkl)]
    records[key] = bytes(pkl)
    _check(make_zip(records))


@settings(max_examples=300)
@given(at=st.integers(0, 1 << 16), value=st.sampled_from(OPCODES))
def test_mutated_legacy_pickle_opcodes(at, value):
    data = bytearray(SEEDS["torch legacy"])
    data[at % len(data)] = value
    _check(bytes(data))


LIES = st.one_of(st.integers(0, 64), st.sampled_from([0, 1, 7, 8, 2**31 - 1, 2**31, 2**32 - 1,
                                                      2**32, 2**62, 2**63 - 1, 2**64 - 1]),
                 st.integers(0, 2**64 - 1))


def _zip_size_fields(data: bytes) -> list[tuple[int, str]]:
    """Offsets of every size/offset/count field in a zip's directory records."""
    fields = []
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        fields += [(at + 20, "<I"), (at + 24, "<I"), (at + 28, "<H"), (at + 30, "<H"),
                   (at + 42, "<I")]
        at = data.find(b"PK\x01\x02", at + 4)
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        fields += [(at + 18, "<I"), (at + 22, "<I"), (at + 26, "<H"), (at + 28, "<H")]
        at = data.find(b"PK\x03\x04", at + 4)
    eocd = data.rfind(b"PK\x05\x06")
    fields += [(eocd + 10, "<H"), (eocd + 12, "<I"), (eocd + 16, "<I")]
    eocd64 = data.rfind(b"PK\x06\x06")
    if eocd64 >= 0:
        fields += [(eocd64 + 32, "<Q"), (eocd64 + 40, "<Q"), (eocd64 + 48, "<Q")]
    return fields


@settings(max_examples=400)
@given(name=st.sampled_from(["torch zip", "numrnn npz", "numrnn torch", "whole module"]),
       pick=st.integers(0, 1 << 16), lie=LIES)
def test_lying_zip_sizes(name, pick, lie):
    data = bytearray(SEEDS[name])
    fields = _zip_size_fields(bytes(data))
    at, fmt = fields[pick % len(fields)]
    struct.pack_into(fmt, data, at, lie % (1 << (8 * struct.calcsize(fmt))))
    _check(bytes(data))


@settings(max_examples=300)
@given(field=st.sampled_from(["length", "shape", "begin", "end"]), lie=LIES,
       index=st.integers(0, 1))
def test_lying_safetensors_header(field, lie, index):
    data = SEEDS["numrnn safetensors"]
    (n,) = struct.unpack("<Q", data[:8])
    if field == "length":
        _check(struct.pack("<Q", lie % 2**64) + data[8:])
        return
    header = json.loads(data[8:8 + n])
    entry = header[list(header)[index]]
    if field == "shape":
        entry["shape"][0] = lie
    else:
        entry["data_offsets"][field == "end"] = lie
    text = json.dumps(header).encode()
    _check(struct.pack("<Q", len(text)) + text + data[8 + n:])


@settings(max_examples=200)
@given(lie=LIES, dims=st.integers(1, 3))
def test_lying_npy_shape(lie, dims):
    data = SEEDS["npy"]
    shape = b"(2, 3)"
    new = ("(" + ", ".join([str(lie)] * dims) + ("," if dims == 1 else "") + ")").encode()
    _check(data.replace(shape, new))


@settings(max_examples=300)
@given(lie=LIES, which=st.integers(0, 1 << 10))
def test_lying_storage_sizes(lie, which):
    """Rewrite the numel of one storage's persistent id (a BININT/BININT1 after 'cpu')."""
    records = zip_records(SEEDS["torch zip"])
    key = _pickle_record(records)
    pkl = records[key]
    marks = [i for i in range(len(pkl)) if pkl.startswith(b"cpu", i)]
    at = marks[which % len(marks)] + 3
    while pkl[at:at + 1] in (b"q", b"h"):  # skip memo ops that follow the string
        at += 2
    op = pkl[at:at + 1]
    size = {b"K": 1, b"M": 2, b"J": 4}.get(op)
    if size is None:
        return
    value = struct.pack("<i", lie % 2**31)
    records[key] = pkl[:at] + b"J" + value + pkl[at + 1 + size:]
    _check(make_zip(records))


def test_zz_report_fuzz_cases():
    """Prints the number of fuzz cases run in this module (pytest -s to see it)."""
    print(f"\nfuzz cases run: {CASES[0]}, slowest {SLOWEST[0] * 1000:.1f} ms")
    if os.environ.get("NUMRNN_FUZZ_REPORT"):
        with open(os.environ["NUMRNN_FUZZ_REPORT"], "w") as handle:
            handle.write(f"{CASES[0]}\n")
    assert CASES[0] > 1000
