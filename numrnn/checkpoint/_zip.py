"""A small, strict zip reader (torch checkpoints and .npz files are zips).

Written here rather than using ``zipfile`` so that every offset and size the
archive states is checked against the real file before it is used, entries come
back as zero-copy views of the file (which is what makes ``mmap=True`` work),
and a corrupt archive can only raise CheckpointError.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ._errors import CheckpointError
from ._source import Source

__all__ = ["ZipEntry", "read_directory", "read_entry", "is_zip"]

_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_STORED, _DEFLATED = 0, 8
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand data by more than this


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    offset: int  # of the data, past the local header
    compressed_size: int
    size: int


def is_zip(source: Source) -> bool:
    return source.bytes(0, min(4, len(source))) in (_LOCAL, _EOCD)


def _unpack(fmt: str, source: Source, at: int) -> tuple:
    return struct.unpack(fmt, source.bytes(at, at + struct.calcsize(fmt)))


def read_directory(source: Source) -> dict[str, ZipEntry]:
    """Every entry of the archive by name, each checked to lie inside the file."""
    n = len(source)
    tail_start = max(0, n - (22 + 65535))
    eocd = source.bytes(tail_start, n).rfind(_EOCD)
    if eocd < 0:
        raise CheckpointError("not a zip archive, or truncated: no end-of-directory record")
    eocd += tail_start
    (_, _, _, _, count, cd_size, cd_offset, _) = _unpack("<4s4H2IH", source, eocd)
    if 0xFFFF == count or 0xFFFFFFFF in (cd_size, cd_offset):
        if eocd < 20 or source.bytes(eocd - 20, eocd - 16) != _LOCATOR64:
            raise CheckpointError("zip64 archive without its locator")
        (eocd64,) = _unpack("<Q", source, eocd - 12)
        sig, _, _, _, _, _, _, count, cd_size, cd_offset = _unpack("<4sQ2H2I4Q", source, eocd64)
        if sig != _EOCD64:
            raise CheckpointError("bad zip64 end-of-directory record")
    if cd_offset + cd_size > n or count * 46 > cd_size:
        raise CheckpointError(f"zip directory claims {count} entries in {cd_size} bytes at "
                              f"{cd_offset}, past the file's {n} bytes")
    entries: dict[str, ZipEntry] = {}
    at = cd_offset
    for _ in range(count):
        (sig, _, _, flags, method, _, _, _, csize, usize, name_len, extra_len, comment_len,
         _, _, _, local) = _unpack("<4s6H3I5H2I", source, at)
        if sig != _CENTRAL:
            raise CheckpointError(f"bad zip central directory entry at offset {at}")
        name_raw = source.bytes(at + 46, at + 46 + name_len)
        extra = source.bytes(at + 46 + name_len, at + 46 + name_len + extra_len)
        at += 46 + name_len + extra_len + comment_len
        usize, csize, local = _zip64_sizes(extra, usize, csize, local)
        if flags & 1:
            raise CheckpointError("encrypted zip entries are not supported")
        if method not in (_STORED, _DEFLATED):
            raise CheckpointError(f"zip compression method {method} is not supported")
        try:
            name = name_raw.decode("utf-8" if flags & 0x800 else "cp437")
        except UnicodeDecodeError:
            raise CheckpointError("zip entry name is not valid UTF-8") from None
        if name in entries:
            raise CheckpointError(f"zip archive has two entries named {name!r}")
        lsig, _, _, _, _, _, _, _, _, lname_len, lextra_len = _unpack("<4s5H3I2H", source, local)
        if lsig != _LOCAL:
            raise CheckpointError(f"zip entry {name!r}: bad local header at {local}")
        start = local + 30 + lname_len + lextra_len
        if start + csize > n:
            raise CheckpointError(f"zip entry {name!r} runs past the end of the file")
        if (method == _STORED and csize != usize) or (
                method == _DEFLATED and usize > csize * _MAX_DEFLATE_RATIO + 1024):
            raise CheckpointError(f"zip entry {name!r} states impossible sizes "
                                  f"{csize} -> {usize}")
        entries[name] = ZipEntry(name, method, start, csize, usize)
    return entries


def _zip64_sizes(extra: bytes, usize: int, csize: int, local: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields by their values in the zip64 extra field."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, at)
        body = extra[at + 4:at + 4 + size]
        at += 4 + size
        if tag != 1:
            continue
        values = [v for (v,) in struct.iter_unpack("<Q", body[:len(body) // 8 * 8])]
        fields = [usize, csize, local]
        for k in range(3):
            if fields[k] == 0xFFFFFFFF:
                if not values:
                    raise CheckpointError("zip64 extra field is too short")
                fields[k] = values.pop(0)
        return fields[0], fields[1], fields[2]
    if 0xFFFFFFFF in (usize, csize, local):
        raise CheckpointError("zip entry needs a zip64 extra field it does not have")
    return usize, csize, local


def read_entry(source: Source, entry: ZipEntry) -> tuple[np.ndarray, bool]:
    """The entry's bytes as a uint8 array, and whether it is a view of the file."""
    raw = source.view(entry.offset, entry.offset + entry.compressed_size)
    if entry.method == _STORED:
        return raw, True
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw.tobytes(), entry.size)
    except zlib.error as error:
        raise CheckpointError(f"zip entry {entry.name!r} is corrupt: {error}") from None
    if len(data) != entry.size:
        raise CheckpointError(f"zip entry {entry.name!r} inflates to {len(data)} bytes, "
                              f"not the {entry.size} it states")
    return np.frombuffer(bytearray(data), dtype=np.uint8), False
