"""torch.save's legacy format (torch < 1.6, or ``_use_new_zipfile_serialization=False``).

The file is a run of pickles followed by raw storages::

    pickle  magic number 0x1950a86a20f9469cfc6c
    pickle  protocol version 1001
    pickle  sys info {'little_endian': ..., 'type_sizes': ...}
    pickle  the object; storages by persistent id
            ('storage', StorageType, key, location, numel, view_metadata)
    pickle  the list of storage keys, in the order their data follows
    for each key: an 8-byte element count, then count * itemsize bytes
"""

from __future__ import annotations

from typing import Any

from ._errors import CheckpointError
from ._source import Source
from ._tensors import Storage
from ._unpickler import GlobalRef, Unpickler
from .torch_zip import _storage_from_pid

__all__ = ["MAGIC", "is_legacy", "load_torch_legacy"]

MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
# how pickle protocol 2 writes MAGIC: PROTO 2, LONG1 of 10 bytes
_MAGIC_PICKLE = b"\x80\x02\x8a\x0a" + MAGIC.to_bytes(10, "little") + b"."


def is_legacy(source: Source) -> bool:
    return source.bytes(0, min(len(source), len(_MAGIC_PICKLE))) == _MAGIC_PICKLE


def load_torch_legacy(source: Source, at: int | None = None) -> Any:
    """The object in a legacy torch checkpoint, tensors as NumPy arrays.

    ``at`` is the offset just past the magic number's pickle (known when the
    caller has already read it; the magic pickle of protocol 2 otherwise).
    """
    data = source.data
    at = len(_MAGIC_PICKLE) if at is None else at
    header = Unpickler(data, at)
    if header.load() != _PROTOCOL:
        raise CheckpointError("legacy torch checkpoint with an unknown protocol version")
    info_reader = Unpickler(data, header.end)
    sys_info = info_reader.load()
    if not isinstance(sys_info, dict):
        raise CheckpointError("legacy torch checkpoint without its sys info record")
    little = sys_info.get("little_endian", True)
    main_at = info_reader.end

    # First pass: learn each storage's type and size, and where the pickle ends.
    storages: dict[str, Storage] = {}
    views: dict[str, tuple[str, int, int]] = {}

    def persistent_load(pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module":
            if not isinstance(pid[1], GlobalRef):  # the class of a pickled nn.Module
                raise CheckpointError("malformed module record")
            return pid[1]
        storage = _storage_from_pid(pid, storages, legacy=True)
        view = pid[5]
        if view is not None:
            if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)
                    and all(type(v) is int and v >= 0 for v in view[1:])):
                raise CheckpointError(f"malformed storage view {str(view)[:80]}")
            views[view[0]] = (storage.key, view[1], view[2])
            return _view_storage(storages, view[0], storage)
        return storage

    scan = Unpickler(data, main_at, persistent_load=persistent_load)
    scan.build_tensors = False
    scan.load()
    keys_reader = Unpickler(data, scan.end)
    keys = keys_reader.load()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError("legacy torch checkpoint: storage key list is malformed")

    at = keys_reader.end
    order = "little" if little else "big"
    for key in keys:
        if key not in storages:
            raise CheckpointError(f"storage {key!r} is listed but never used")
        storage = storages[key]
        count = int.from_bytes(source.bytes(at, at + 8), order, signed=True)
        if count != storage.numel:
            raise CheckpointError(f"storage {key!r} has {count} elements on disk, "
                                  f"{storage.numel} in its record")
        storage.raw = source.view(at + 8, at + 8 + storage.nbytes)
        storage.big_endian = not little
        storage.memmapped = source.memmapped
        at += 8 + storage.nbytes
    for view_key, (root, offset, size) in views.items():
        _fill_view(storages[view_key], storages[root], offset, size)

    # Second pass: the real object, now that every storage has its bytes.
    return Unpickler(data, main_at, persistent_load=persistent_load).load()


def _view_storage(storages: dict[str, Storage], key: str, root: Storage) -> Storage:
    if key not in storages:
        storages[key] = Storage(key, root.dtype, 0)
    return storages[key]


def _fill_view(view: Storage, root: Storage, offset: int, size: int) -> None:
    if root.raw is None or root.dtype is None:
        raise CheckpointError(f"storage view {view.key!r} of a missing storage")
    item = root.dtype.itemsize
    if (offset + size) * item > root.raw.size:
        raise CheckpointError(f"storage view {view.key!r} runs past its storage")
    view.raw = root.raw[offset * item:(offset + size) * item]
    view.numel, view.big_endian, view.memmapped = size, root.big_endian, root.memmapped
