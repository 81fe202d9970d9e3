"""torch.save's zip format (torch >= 1.6): read without torch, and write.

Layout of an archive whose root folder is ``archive`` (any name is accepted)::

    archive/data.pkl       the pickled object; tensors refer to storages by
                           persistent id ('storage', StorageType, key, location, numel)
    archive/byteorder      'little' or 'big' (absent in old files: little)
    archive/data/<key>     each storage's raw bytes, stored uncompressed, 64-byte aligned
    archive/version        '3\\n'
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from ._errors import CheckpointError
from ._source import Source
from ._tensors import Storage
from ._unpickler import StorageType, Unpickler
from ._zip import ZipEntry, read_entry

__all__ = ["load_torch_zip", "find_root", "save_torch_zip"]


def find_root(entries: dict[str, ZipEntry]) -> str | None:
    """The archive's root folder: the one holding ``data.pkl`` (None if there is none)."""
    roots = [name[:-len("data.pkl")] for name in entries
             if name.endswith("data.pkl") and name.count("/") == 1
             and name.rsplit("/", 1)[1] == "data.pkl"]
    if len(roots) > 1:
        raise CheckpointError(f"zip archive has {len(roots)} data.pkl records")
    return roots[0] if roots else None


def load_torch_zip(source: Source, entries: dict[str, ZipEntry], root: str) -> Any:
    """The object in a torch zip checkpoint, tensors as NumPy arrays."""
    big_endian = False
    if root + "byteorder" in entries:
        order = read_entry(source, entries[root + "byteorder"])[0].tobytes()
        if order not in (b"little", b"big"):
            raise CheckpointError(f"byteorder record is {order[:20]!r}, not little or big")
        big_endian = order == b"big"
    storages: dict[str, Storage] = {}

    def persistent_load(pid: Any) -> Storage:
        storage = _storage_from_pid(pid, storages)
        if storage.raw is None:
            name = f"{root}data/{storage.key}"
            if name not in entries:
                raise CheckpointError(f"storage record {name!r} is missing")
            raw, is_view = read_entry(source, entries[name])
            if raw.size != storage.nbytes:
                raise CheckpointError(f"storage {storage.key!r} states {storage.nbytes} bytes, "
                                      f"its record has {raw.size}")
            storage.raw, storage.big_endian = raw, big_endian
            storage.memmapped = is_view and source.memmapped
        return storage

    pickle_bytes = read_entry(source, entries[root + "data.pkl"])[0]
    return Unpickler(pickle_bytes, persistent_load=persistent_load).load()


def _storage_from_pid(pid: Any, storages: dict[str, Storage], *, legacy: bool = False
                      ) -> Storage:
    """Check a persistent id ('storage', type, key, location, numel[, view]) -> Storage."""
    size = 6 if legacy else 5
    if not (isinstance(pid, tuple) and len(pid) == size and pid[0] == "storage"):
        raise CheckpointError(f"persistent id is not a storage: {str(pid)[:80]}")
    kind, key, location, numel = pid[1:5]
    if not isinstance(kind, StorageType) or kind.dtype is None and kind.name != "UntypedStorage":
        raise CheckpointError(f"storage type {kind!r} is not supported")
    if not isinstance(key, str) or not isinstance(location, str):
        raise CheckpointError("storage key and location must be strings")
    if type(numel) is not int or numel < 0:
        raise CheckpointError(f"storage {key!r} has a bad size {numel!r}")
    if key in storages:
        storage = storages[key]
        if storage.dtype is not kind.dtype or storage.numel != numel:
            raise CheckpointError(f"storage {key!r} is described two different ways")
        return storage
    storages[key] = Storage(key, kind.dtype, numel)
    return storages[key]


# --- writing ------------------------------------------------------------------------

_ALIGN = 64
_STORAGE_NAMES = {"float64": "DoubleStorage", "float32": "FloatStorage",
                  "float16": "HalfStorage", "int64": "LongStorage", "int32": "IntStorage",
                  "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage",
                  "bool": "BoolStorage", "complex64": "ComplexFloatStorage",
                  "complex128": "ComplexDoubleStorage"}
_UNTYPED = {"uint16", "uint32", "uint64"}  # saved by torch as UntypedStorage + dtype


class _Pickler:
    """Writes the protocol-2 pickle torch writes, for plain containers and arrays."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.storages: list[np.ndarray] = []
        self._seen: dict[int, int] = {}  # id(array) -> storage key

    def dump(self, obj: Any) -> bytes:
        self.out.write(b"\x80\x02")
        self._save(obj, 0)
        self.out.write(b".")
        return self.out.getvalue()

    def _global(self, module: str, name: str) -> None:
        self.out.write(b"c" + f"{module}\n{name}\n".encode())

    def _save(self, obj: Any, depth: int) -> None:
        w = self.out.write
        if depth > 100:
            raise ValueError("object nests too deeply to save")
        if obj is None or obj is True or obj is False:
            w({None: b"N", True: b"\x88", False: b"\x89"}[obj])
        elif isinstance(obj, (int, np.integer)) and not isinstance(obj, np.ndarray):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            w(b"G" + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            data = obj.encode("utf-8", "surrogatepass")
            w(b"X" + struct.pack("<I", len(data)) + data)
        elif isinstance(obj, (bytes, bytearray)):
            self._global("_codecs", "encode")
            self._save((bytes(obj).decode("latin-1"), "latin1"), depth + 1)
            w(b"R")
        elif isinstance(obj, dict):
            if isinstance(obj, OrderedDict):
                self._global("collections", "OrderedDict")
                w(b")R")
            else:
                w(b"}")
            self._items(list(obj.items()), depth)
        elif isinstance(obj, list):
            w(b"]")
            for start in range(0, len(obj), 1000):
                w(b"(")
                for item in obj[start:start + 1000]:
                    self._save(item, depth + 1)
                w(b"e")
        elif isinstance(obj, tuple):
            w(b"(")
            for item in obj:
                self._save(item, depth + 1)
            w(b"t")
        elif isinstance(obj, (set, frozenset)):
            self._global("builtins", type(obj).__name__)
            self._save(list(obj), depth + 1)
            w(b"\x85R")
        elif isinstance(obj, np.ndarray):
            self._tensor(obj)
        else:
            raise TypeError(f"cannot save a {type(obj).__name__} in a torch checkpoint")

    def _int(self, value: int) -> None:
        w = self.out.write
        if 0 <= value < 256:
            w(b"K" + bytes([value]))
        elif 0 <= value < 65536:
            w(b"M" + struct.pack("<H", value))
        elif -(2**31) <= value < 2**31:
            w(b"J" + struct.pack("<i", value))
        else:
            data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            if len(data) > 255:
                raise ValueError("integer too large to save")
            w(b"\x8a" + bytes([len(data)]) + data)

    def _items(self, items: list, depth: int) -> None:
        for start in range(0, len(items), 1000):
            self.out.write(b"(")
            for key, value in items[start:start + 1000]:
                self._save(key, depth + 1)
                self._save(value, depth + 1)
            self.out.write(b"u")

    def _tensor(self, array: np.ndarray) -> None:
        name = array.dtype.name
        if name not in _STORAGE_NAMES and name not in _UNTYPED:
            raise TypeError(f"arrays of dtype {array.dtype} cannot be saved for torch")
        if id(array) not in self._seen:
            self._seen[id(array)] = len(self.storages)
            self.storages.append(np.asarray(array, array.dtype.newbyteorder("<"), order="C"))
        key = self._seen[id(array)]
        data = self.storages[key]
        untyped = name in _UNTYPED
        w = self.out.write
        self._global("torch._utils", "_rebuild_tensor_v3" if untyped else "_rebuild_tensor_v2")
        w(b"((")  # args, then the persistent id tuple
        self._save("storage", 1)
        self._global("torch.storage" if untyped else "torch",
                     "UntypedStorage" if untyped else _STORAGE_NAMES[name])
        self._save(str(key), 1)
        self._save("cpu", 1)
        self._int(data.nbytes if untyped else data.size)
        w(b"tQ")
        self._int(0)
        self._save(tuple(array.shape), 1)
        self._save(tuple(s // array.itemsize for s in data.strides), 1)
        w(b"\x89")  # requires_grad
        self._global("collections", "OrderedDict")
        w(b")R")  # backward hooks
        if untyped:
            self._global("torch", name)
        w(b"tR")


def save_torch_zip(obj: Any, f: IO[bytes]) -> None:
    """Write ``obj`` (containers of arrays) as a torch zip checkpoint.

    ``torch.load(f, weights_only=True)`` reads it back exactly. Each array gets
    its own storage, stored uncompressed and 64-byte aligned as torch does.
    """
    pickler = _Pickler()
    records = [("data.pkl", pickler.dump(obj)), (".format_version", b"1"),
               (".storage_alignment", b"64"), ("byteorder", b"little")]
    records += [(f"data/{k}", data) for k, data in enumerate(pickler.storages)]
    records += [("version", b"3\n")]
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, data in records:
            _write_aligned(archive, f"archive/{name}", data)


def _write_aligned(archive: zipfile.ZipFile, name: str, data: bytes | np.ndarray) -> None:
    payload = memoryview(data.reshape(-1).view(np.uint8)) if isinstance(data, np.ndarray) else data
    size = len(payload)
    zip64 = size >= 0xFFFFFFFF
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = archive.fp.tell() + 30 + len(name.encode()) + (20 if zip64 else 0) + 4
    padding = -header % _ALIGN
    info.extra = struct.pack("<2H", 0x4246, padding) + b"Z" * padding  # torch's 'FB' pad
    info.file_size = size
    with archive.open(info, "w", force_zip64=zip64) as out:
        out.write(payload)
