"""Nothing from a checkpoint executes, and hostile bytes only ever raise CheckpointError."""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from _ckpt_utils import load_bytes, make_zip, replace_pickle, torch_bytes, zip_records

from numrnn.checkpoint import CheckpointError, UnsafeCheckpointError, load

SENTINEL = "pwned"


class _Reduce:
    """Pickles as ``func(*args)`` -- the classic pickle gadget."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _raw(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


# (payload pickle, global that must be named in the refusal)
GADGETS = {
    "os.system": (lambda: pickle.dumps(_Reduce(os.system, f"touch {SENTINEL}"), 2),
                  os.system.__module__ + ".system"),
    "os.system protocol 4": (lambda: pickle.dumps(_Reduce(os.system, f"touch {SENTINEL}"), 4),
                             os.system.__module__ + ".system"),
    "builtins.eval": (lambda: pickle.dumps(_Reduce(eval, f"open('{SENTINEL}', 'w')"), 2),
                      "builtins.eval"),
    "builtins.exec": (lambda: pickle.dumps(_Reduce(exec, f"open('{SENTINEL}', 'w')"), 4),
                      "builtins.exec"),
    "subprocess.Popen": (lambda: pickle.dumps(_Reduce(subprocess.Popen, ["touch", SENTINEL]),
                                              2), "subprocess.Popen"),
    "getattr gadget": (lambda: _raw(
        b"cbuiltins\ngetattr\n",
        b"cbuiltins\n__import__\n", _str("os"), b"\x85R",  # __import__('os')
        _str("system"), b"\x86R",  # getattr(os, 'system')
        _str(f"touch {SENTINEL}"), b"\x85R"), "builtins.getattr"),
    "module named like torch": (lambda: _raw(
        b"ctorch.nn.modules.rnn\nos\n", _str(f"touch {SENTINEL}"), b"\x85R"),
        "torch.nn.modules.rnn.os"),
    "unknown class called": (lambda: _raw(
        b"cmy_package.evil\nRun\n", _str(f"touch {SENTINEL}"), b"\x85R"),
        "my_package.evil.Run"),
    "INST opcode": (lambda: b"(S'touch " + SENTINEL.encode() + b"'\nios\nsystem\n.", "os.system"),
    "OBJ opcode": (lambda: _raw(b"(cposix\nsystem\n", _str(f"touch {SENTINEL}"), b"o"),
                   "posix.system"),
    "torch allow-list abused": (lambda: _raw(
        b"ctorch._tensor\n_rebuild_from_type_v2\n(cposix\nsystem\n",
        b"N", _str(f"touch {SENTINEL}"), b"\x85N", b"tR"), "posix.system"),
    "copyreg reconstructor": (lambda: _raw(
        b"ccopy_reg\n_reconstructor\n(c__main__\nEvil\ncposix\nsystem\nNtR"), "posix.system"),
    "numpy runstring": (lambda: _raw(b"cnumpy.testing._private.utils\nrunstring\n",
                                     _str(f"open('{SENTINEL}', 'w')"), b"}\x86R"),
                        "numpy.testing._private.utils.runstring"),
    "numpy load": (lambda: pickle.dumps(_Reduce(np.load, SENTINEL), 2), "numpy"),
    "extension code": (lambda: _raw(b"\x82\x01", _str("x"), b"\x85R"), "copyreg extension"),
    "reference left in result": (lambda: _raw(b"cmy_package.evil\nRun\n"),
                                 "my_package.evil.Run"),
    "reference in NEWOBJ_EX kwargs": (lambda: b"\x80\x04cevil_pkg\nModel\n)}"
                                      + _str("k") + b"cmy_package.evil\nRun\ns\x92.",
                                      "my_package.evil.Run"),
}


def _legacy_with(payload: bytes) -> bytes:
    good = torch_bytes({"w": torch.ones(1)}, legacy=True)
    header_end = good.index(b".", good.index(b"little_endian")) + 1  # after sys info
    return good[:header_end] + payload + pickle.dumps([], 2)


@pytest.mark.parametrize("gadget", list(GADGETS))
@pytest.mark.parametrize("container", ["raw pickle", "torch zip", "torch legacy"])
def test_gadgets_are_refused_and_never_run(gadget, container, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make, name = GADGETS[gadget]
    payload = make()
    if container == "torch zip":
        data = replace_pickle(torch_bytes({"w": torch.ones(1)}), payload)
    elif container == "torch legacy":
        data = _legacy_with(payload)
    else:
        data = payload
    with pytest.raises(UnsafeCheckpointError) as info:
        load_bytes(data)
    assert name in str(info.value)
    assert not (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize("gadget", ["os.system", "builtins.eval", "subprocess.Popen",
                                    "getattr gadget", "INST opcode"])
def test_the_gadgets_are_real(gadget, tmp_path):
    """Each payload does create the sentinel under plain pickle (in a subprocess)."""
    payload = GADGETS[gadget][0]()
    code = "import pickle, sys, time; pickle.loads(sys.stdin.buffer.read()); time.sleep(0.2)"
    subprocess.run([sys.executable, "-c", code], input=payload, cwd=tmp_path, check=False,
                   capture_output=True, timeout=30)
    assert (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize("value", [np.array([1, None], dtype=object),
                                   np.array([(1, 2.0)], dtype="i4,f8")], ids=["object", "record"])
def test_numpy_values_other_than_plain_numbers_are_refused(value):
    with pytest.raises(CheckpointError, match="numpy"):
        load_bytes(pickle.dumps({"v": value}, 2))


def test_whole_module_with_hostile_state_stays_inert(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # NEWOBJ of an unknown class with a __setstate__-style BUILD: recorded, never called
    data = _raw(b"cevil_pkg\nModel\n)\x81", b"}", _str("cmd"), _str(f"touch {SENTINEL}"),
                b"sb")
    obj = load_bytes(data)
    assert obj.qualname == "evil_pkg.Model" and obj.cmd == f"touch {SENTINEL}"
    assert not (tmp_path / SENTINEL).exists()
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):  # never a stand-in
        load_bytes(_raw(b"cposix\nsystem\n)\x81"))


def _tensor_file(numel: int, record: int, offset, size, stride, kind=torch.FloatStorage,
                 metadata=None) -> bytes:
    """A torch zip checkpoint with one hand-built tensor geometry."""
    marker = object()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", kind, "0", "cpu", numel) if obj is marker else None

    args = (marker, offset, size, stride, False, collections.OrderedDict())
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"t": _Reduce(torch._utils._rebuild_tensor_v2, *args)})
    return make_zip({"archive/data.pkl": buf.getvalue(), "archive/data/0": bytes(record)})


def test_hand_built_geometry_inside_the_storage_loads():
    t = load_bytes(_tensor_file(12, 48, 2, (2, 5), (5, 1)))["t"]
    assert t.shape == (2, 5) and t.strides == (20, 4)
    t = load_bytes(_tensor_file(12, 48, 11, (1 << 40,), (0,)))["t"]  # expanded: no copy
    assert t.shape == (1 << 40,) and t.strides == (0,)


GEOMETRY = {
    "past the end": (12, 48, 0, (4, 4), (4, 1)),
    "offset past the end": (12, 48, 12, (1,), (1,)),
    "stride runs out": (12, 48, 0, (2, 2), (11, 1)),
    "negative stride": (12, 48, 11, (3,), (-1,)),
    "negative offset": (12, 48, -1, (2,), (1,)),
    "negative size": (12, 48, 0, (-2,), (1,)),
    "rank mismatch": (12, 48, 0, (2, 2), (1,)),
    "float size": (12, 48, 0, (2.0,), (1,)),
    "too many dims": (12, 48, 0, (1,) * 65, (1,) * 65),
    "numel lies": (1 << 40, 48, 0, (2,), (1,)),
    "record short": (12, 40, 0, (2,), (1,)),
    "record long": (12, 52, 0, (2,), (1,)),
    "offset of empty past the end": (12, 48, 13, (0,), (1,)),
    "huge size": (12, 48, 0, (1 << 62, 1 << 62), (0, 0)),
}


@pytest.mark.parametrize("case", list(GEOMETRY))
def test_geometry_outside_the_storage_is_refused(case):
    start = time.perf_counter()
    with pytest.raises(CheckpointError):
        load_bytes(_tensor_file(*GEOMETRY[case]))
    assert time.perf_counter() - start < 1.0


def test_missing_storage_record_and_bad_persistent_ids():
    records = zip_records(_tensor_file(12, 48, 0, (2,), (1,)))
    del records["archive/data/0"]
    with pytest.raises(CheckpointError, match="missing"):
        load_bytes(make_zip(records))
    with pytest.raises(CheckpointError, match="persistent id"):
        load_bytes(make_zip({"archive/data.pkl": _raw(_str("nope"), b"Q")}))
    with pytest.raises(CheckpointError):  # a bare pickle has no storages
        load_bytes(_raw(_str("x"), b"Q"))


DEPTH = 100_000


@pytest.mark.parametrize("payload", [
    _raw(b"]" * DEPTH + b"a" * (DEPTH - 1)),  # nested lists
    _raw(b")" + b"\x85" * DEPTH),  # nested tuples (hashing them would crash C code)
    _raw(b"}" + b"K\x01}" * DEPTH + b"s" * DEPTH),  # nested dicts
    _raw(b"]q\x00h\x00a"),  # a list that contains itself
    _raw(b"}q\x00K\x01h\x00s"),  # a dict that contains itself
    _raw(b")" + b"\x85" * 1000 + b"]q\x00h\x00a\x85R"),
], ids=["lists", "tuples", "dicts", "self list", "self dict", "tuple then call"])
def test_deep_nesting_and_recursion(payload):
    start = time.perf_counter()
    try:
        load_bytes(payload)
    except CheckpointError:
        pass
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("payload", [
    _raw(b"]" * DEPTH + b"a" * (DEPTH - 1)),
    _raw(b")" + b"\x85" * DEPTH),
    _raw(b"]q\x00h\x00a"),
    _raw(b"}q\x00K\x01h\x00s"),
], ids=["lists", "tuples", "self list", "self dict"])
def test_deep_nesting_and_recursion_are_errors(payload):
    with pytest.raises(CheckpointError):
        load_bytes(payload)


def test_shared_structure_is_not_exponential():
    # 60 levels, each a list holding the previous one twice: 2**60 paths, 60 objects
    ops = [b"]q\x00"]
    for level in range(1, 60):
        ops.append(b"]h" + bytes([level - 1]) + b"h" + bytes([level - 1]) + b"\x86")
        ops.append(b"aq" + bytes([level]))
    start = time.perf_counter()
    load_bytes(_raw(*ops))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("payload", [
    _raw(b"\x8d" + struct.pack("<Q", 1 << 60)),  # BINUNICODE8 of an exabyte
    _raw(b"\x8e" + struct.pack("<Q", 1 << 60)),  # BINBYTES8
    _raw(b"\x96" + struct.pack("<Q", 1 << 60)),  # BYTEARRAY8
    _raw(b"\x8b" + struct.pack("<i", 2**31 - 1)),  # LONG4
    _raw(b"X" + struct.pack("<I", 2**32 - 1)),
    _raw(b"I" + b"9" * 100_000 + b"\n"),
    _raw(b"cbuiltins\nbytearray\n", b"J" + struct.pack("<i", 2**31 - 1), b"\x85R"),
    _raw(b"\x80\x09"),
    _raw(b"\x95" + struct.pack("<Q", 1 << 62)),  # FRAME: a hint only
    b"\x80\x02" + b"(" * 1000,
    b"",
    b"\x00" * 100,
], ids=["unicode8", "bytes8", "bytearray8", "long4", "unicode", "int", "bytearray(n)",
        "proto", "frame", "marks", "empty", "zeros"])
def test_claims_bigger_than_the_file_fail_fast(payload):
    start = time.perf_counter()
    with pytest.raises(CheckpointError):
        load_bytes(payload)
    assert time.perf_counter() - start < 1.0


def test_zip_claims_are_checked():
    good = torch_bytes({"w": torch.ones(4)})
    eocd = good.rindex(b"PK\x05\x06")
    for field, value in [(10, 0xFFFE), (12, 0x7FFFFFFF), (16, 0x7FFFFFFF)]:
        bad = bytearray(good)
        struct.pack_into("<I" if field != 10 else "<H", bad, eocd + field, value)
        with pytest.raises(CheckpointError):
            load_bytes(bytes(bad))
    eocd64 = good.rindex(b"PK\x06\x06")  # torch always writes the zip64 records too
    for field in (32, 40, 48):  # entry count, directory size, directory offset
        bad = bytearray(good)
        struct.pack_into("<H", bad, eocd + 10, 0xFFFF)  # defer to the zip64 record
        struct.pack_into("<Q", bad, eocd64 + field, 1 << 50)
        with pytest.raises(CheckpointError):
            load_bytes(bytes(bad))
    central = good.index(b"PK\x01\x02")
    for field in (20, 24, 42):  # compressed size, size, local header offset
        bad = bytearray(good)
        struct.pack_into("<I", bad, central + field, 0x7FFFFFF0)
        with pytest.raises(CheckpointError):
            load_bytes(bytes(bad))


def test_deflate_bomb_claims_are_refused():
    import zlib

    data = zlib.compress(bytes(10_000_000))[2:-4]
    records = {"archive/data.pkl": pickle.dumps({"a": 1}, 2), "archive/data/0": data}
    archive = bytearray(make_zip(records, compress=True))
    # a deflated entry may not claim more than deflate can produce from its bytes
    central = archive.rindex(b"archive/data/0") - 46
    struct.pack_into("<I", archive, central + 24, 0xFFFFFFF0)
    with pytest.raises(CheckpointError):
        load_bytes(bytes(archive))


def test_import_numrnn_does_not_import_torch():
    code = "import sys, numrnn, numrnn.checkpoint, numrnn.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_loading_needs_no_torch(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"w": torch.randn(3), "m": torch.nn.Linear(2, 2)}, path)
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch would fail
            "from numrnn.checkpoint import load, state_dict_from\n"
            f"obj = load({str(path)!r}); print(sorted(state_dict_from(obj['m'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['bias', 'weight']"


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.pt")
