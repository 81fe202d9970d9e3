"""safetensors, from the format's specification (no dependency).

Layout: an 8-byte little-endian header length ``N``; ``N`` bytes of UTF-8 JSON
``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}`` (may be padded with spaces); then the byte buffer.
Validation follows the reference implementation: header at most 100 MB and
starting with ``{``, no duplicate keys, offsets relative to the buffer, sorted by
offset the tensors tile the buffer exactly (no holes, no overlaps), each
``end - begin == numel * itemsize``, and the buffer ends at the last offset.
"""

from __future__ import annotations

import json
import math
import struct
from typing import IO, Any

import numpy as np

from ._errors import CheckpointError
from ._source import Source
from ._tensors import FLOAT8_TABLES, bfloat16_to_float32

__all__ = ["is_safetensors", "load_safetensors", "save_safetensors", "DTYPES"]

MAX_HEADER = 100_000_000

DTYPES: dict[str, str] = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2",
    "BF16": "<u2", "I32": "<i4", "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8",
    "U64": "<u8", "C64": "<c8", "F8_E4M3": "u1", "F8_E5M2": "u1",
}
_CONVERTED = {"BF16", "F8_E4M3", "F8_E5M2"}  # read as float32
_NAMES = {np.dtype(code).newbyteorder("="): name for name, code in DTYPES.items()
          if name not in _CONVERTED}


def is_safetensors(source: Source) -> bool:
    """An 8-byte length then ``{``: the header's claims are checked by the loader."""
    return len(source) >= 10 and source.bytes(8, 9) == b"{"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CheckpointError(f"safetensors header has the key {key!r} twice")
        result[key] = value
    return result


def _read_header(source: Source) -> tuple[dict[str, Any], int]:
    if len(source) < 8:
        raise CheckpointError("safetensors file shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", source.bytes(0, 8))
    if n > MAX_HEADER:
        raise CheckpointError(f"safetensors header of {n} bytes exceeds {MAX_HEADER}")
    if 8 + n > len(source):
        raise CheckpointError(f"safetensors header claims {n} bytes, file has "
                              f"{len(source) - 8}")
    text = source.bytes(8, 8 + n)
    if not text.startswith(b"{"):
        raise CheckpointError("safetensors header does not start with '{'")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"safetensors header is not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object")
    return header, 8 + n


def _tensor_info(name: str, info: Any) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise CheckpointError(f"safetensors entry {name!r} lacks dtype, shape or data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(f"safetensors entry {name!r}: unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise CheckpointError(f"safetensors entry {name!r}: bad shape {shape!r}")
    if len(shape) > 64:
        raise CheckpointError(f"safetensors entry {name!r} has {len(shape)} dimensions")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
        raise CheckpointError(f"safetensors entry {name!r}: bad data_offsets {offsets!r}")
    return dtype, tuple(shape), offsets[0], offsets[1]


def load_safetensors(source: Source) -> dict[str, np.ndarray]:
    """Every tensor, in header order; BF16 and F8 become float32 exactly."""
    header, start = _read_header(source)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise CheckpointError("safetensors __metadata__ must map strings to strings")
    infos = {name: _tensor_info(name, info) for name, info in header.items()}
    expected = 0
    for name, (dtype, shape, begin, end) in sorted(infos.items(), key=lambda kv: kv[1][2:]):
        if begin != expected:
            raise CheckpointError(f"safetensors entry {name!r} starts at {begin}, expected "
                                  f"{expected}: a hole or an overlap")
        nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if end - begin != nbytes:
            raise CheckpointError(f"safetensors entry {name!r}: {end - begin} bytes for "
                                  f"{dtype}{list(shape)}, which needs {nbytes}")
        expected = end
    if start + expected != len(source):
        raise CheckpointError(f"safetensors buffer has {len(source) - start} bytes, "
                              f"its tensors cover {expected}")
    tensors: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in infos.items():
        flat = source.view(start + begin, start + end).view(DTYPES[dtype])
        if dtype == "BF16":
            flat = bfloat16_to_float32(flat)
        elif dtype in ("F8_E4M3", "F8_E5M2"):
            flat = FLOAT8_TABLES["float8_e4m3fn" if dtype == "F8_E4M3" else "float8_e5m2"][flat]
        elif dtype == "BOOL" and flat.size and flat.view(np.uint8).max() > 1:
            flat = flat.view(np.uint8) != 0
        array = flat.reshape(shape)
        if not array.flags.aligned and array.flags.writeable:
            array = array.copy()  # a header not padded to 8 bytes leaves data unaligned
        if source.memmapped and not array.flags.writeable:
            array = array.view(np.memmap)
        tensors[name] = array
    return tensors


def save_safetensors(tensors: dict[str, np.ndarray], f: IO[bytes]) -> None:
    """Write a flat ``{name: array}`` as safetensors, in the dict's order.

    The header is compact JSON padded with spaces so that the buffer starts
    8-byte aligned; no ``__metadata__`` is written.
    """
    header: dict[str, Any] = {}
    arrays = []
    offset = 0
    for name, array in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"safetensors names must be strings, got {name!r}")
        key = array.dtype.newbyteorder("=")
        if key not in _NAMES:
            raise TypeError(f"{name!r}: dtype {array.dtype} has no safetensors equivalent")
        data = np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")
        header[name] = {"dtype": _NAMES[key], "shape": list(array.shape),
                        "data_offsets": [offset, offset + data.nbytes]}
        arrays.append(data)
        offset += data.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    f.write(struct.pack("<Q", len(text)) + text)
    for data in arrays:
        f.write(data.reshape(-1).view(np.uint8))
