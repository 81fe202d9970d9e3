"""Checkpoints without torch: load and save .pt (zip and legacy), safetensors, npz.

``load`` detects the format from the bytes and returns the stored object with
every tensor as a NumPy array; nothing in the file is ever executed (see
``_unpickler``). ``save`` writes a dict of arrays in any of the formats.

>>> import numpy as np, numrnn
>>> numrnn.save({"w": np.ones((2, 3), np.float32)}, "w.safetensors")  # doctest: +SKIP
>>> numrnn.load("w.safetensors")["w"].shape                          # doctest: +SKIP
(2, 3)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any, Union

import numpy as np

from ._errors import CheckpointError, UnsafeCheckpointError
from ._source import Source, open_source
from ._zip import is_zip, read_directory

# Each format's reader is imported when a file of that format is met: loading the
# bundled .pt never pays for json (safetensors) or the writers, which keeps a cold
# start (import, load, one forward) short.
_LAZY = {
    "state_dict_from": "._state",
    "flatten_tensors": "._state",
    "StandIn": "._unpickler",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["load", "load_with_format", "save", "detect_format", "state_dict_from", "flatten_tensors",
           "CheckpointError", "UnsafeCheckpointError", "StandIn", "FORMATS"]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

# format name -> file-name suffixes that select it in ``save``
FORMATS: dict[str, tuple[str, ...]] = {
    "torch": (".pt", ".pth", ".bin", ".ckpt"),
    "safetensors": (".safetensors",),
    "npz": (".npz",),
}
_FORMAT_ALIASES = {"pt": "torch", "pth": "torch"}


def load(f: PathOrFile, *, mmap: bool = False) -> Any:
    """Load a checkpoint; every tensor becomes an ``np.ndarray``.

    Reads torch zip (torch >= 1.6) and legacy files, safetensors, ``.npz`` and
    ``.npy``; the format comes from the bytes, not the name. Containers keep
    their types; whole pickled modules become inert :class:`StandIn` objects
    (see :func:`state_dict_from`). bfloat16 becomes float32 (exact).

    Args:
        f: a path, or a binary file object read from its current position.
        mmap: memory-map uncompressed tensors (read-only ``np.memmap`` views of the
            file) instead of reading them. Tensors that need converting (bfloat16,
            big-endian) are still read, and so is everything from a file object
            that is not a real file at position 0 (``io.BytesIO``).

    Raises:
        UnsafeCheckpointError: a pickle names a global outside the allow-list.
        CheckpointError: anything malformed, truncated or inconsistent -- no other
            exception leaves ``load`` whatever the bytes.
    """
    return load_with_format(f, mmap=mmap)[1]


def load_with_format(f: PathOrFile, *, mmap: bool = False) -> tuple[str, Any]:
    """``load``, also returning the format found (one of ``detect_format``'s names)."""
    source = open_source(f, mmap_mode=mmap)
    try:
        return _load(source)
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("checkpoint nests too deeply") from None
    except MemoryError:
        raise CheckpointError("checkpoint needs more memory than is available") from None
    except Exception as error:  # any other failure on hostile bytes is still malformed
        raise CheckpointError(f"malformed checkpoint ({type(error).__name__}: {error})") from None


# PROTO (protocol 2+), or the opcodes a protocol 0/1 pickle usually starts with
_PICKLE_STARTS = {bytes([c]) for c in b"\x80(]}).cNSVIL"}


def detect_format(source: Source) -> str:
    """One of 'torch', 'torch-legacy', 'safetensors', 'npz', 'npy', 'pickle'."""
    if is_zip(source):
        from .npz import is_npz
        from .torch_zip import find_root

        entries = read_directory(source)
        if find_root(entries) is not None:
            if any(name.endswith(("/constants.pkl", "/code/")) or "/code/" in name
                   for name in entries):
                raise CheckpointError("this is a TorchScript archive (torch.jit.save), which "
                                      "holds code; save the model's state_dict instead")
            return "torch"
        if is_npz(entries):
            return "npz"
        raise CheckpointError("zip archive is neither a torch checkpoint (no data.pkl) "
                              "nor an .npz (not only .npy entries)")
    from .npz import is_npy
    from .safetensors import is_safetensors
    from .torch_legacy import is_legacy

    if is_npy(source):
        return "npy"
    if is_legacy(source):
        return "torch-legacy"
    if is_safetensors(source):
        return "safetensors"
    if len(source) and source.bytes(0, 1) in _PICKLE_STARTS:
        return "pickle"
    raise CheckpointError("unrecognised checkpoint format: not a torch zip or legacy file, "
                          "safetensors, .npz or .npy")


def _load(source: Source) -> tuple[str, Any]:
    kind = detect_format(source)
    if kind == "torch":
        from .torch_zip import find_root, load_torch_zip

        entries = read_directory(source)
        return kind, load_torch_zip(source, entries, find_root(entries) or "")
    if kind in ("npz", "npy"):
        from .npz import load_npy, load_npz

        return kind, load_npz(source, read_directory(source)) if kind == "npz" else load_npy(source)
    from .torch_legacy import MAGIC as LEGACY_MAGIC
    from .torch_legacy import load_torch_legacy

    if kind == "torch-legacy":
        return kind, load_torch_legacy(source)
    if kind == "safetensors":
        from .safetensors import load_safetensors

        return kind, load_safetensors(source)
    # a bare pickle, read just as safely -- or a legacy file written with protocol 0/1
    from ._unpickler import Unpickler

    first = Unpickler(source.data)
    obj = first.load()
    if type(obj) is int and obj == LEGACY_MAGIC:
        return "torch-legacy", load_torch_legacy(source, first.end)
    return kind, obj


def save(obj: Any, f: PathOrFile, *, format: str | None = None) -> None:
    """Save arrays as safetensors, npz, or a torch zip checkpoint.

    Args:
        obj: for safetensors and npz a flat mapping ``{name: array}``; for torch,
            also nested dicts, lists, tuples and plain values (like ``torch.save``).
            A loaded whole module is saved as its state dict.
        f: a path or a binary file object.
        format: 'safetensors', 'npz' or 'torch'; by default from the suffix of ``f``
            (``.safetensors``, ``.npz``, ``.pt``/``.pth``).

    The torch file reads back exactly with ``torch.load(f, weights_only=True)``.
    """
    kind = _FORMAT_ALIASES.get(format, format) if format is not None else _format_from_name(f)
    if kind not in FORMATS:
        raise ValueError(f"unknown checkpoint format {kind!r}; expected one of "
                         f"{', '.join(FORMATS)}")
    from ._state import state_dict_from
    from ._unpickler import StandIn
    from .npz import save_npz
    from .safetensors import save_safetensors
    from .torch_zip import save_torch_zip

    if isinstance(obj, StandIn):
        obj = state_dict_from(obj)
    if kind == "torch":
        obj = _arrays_in(obj)
    else:
        if not isinstance(obj, Mapping):
            raise TypeError(f"{kind} stores a flat mapping of arrays, got {type(obj).__name__}")
        obj = {name: _as_array(name, value) for name, value in obj.items()}
    writer = {"torch": save_torch_zip, "safetensors": save_safetensors, "npz": save_npz}[kind]
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as handle:
            writer(obj, handle)
    else:
        writer(obj, f)


def _format_from_name(f: PathOrFile) -> str:
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "")
    suffix = os.path.splitext(str(name))[1].lower()
    for kind, suffixes in FORMATS.items():
        if suffix in suffixes:
            return kind
    raise ValueError(f"cannot tell the checkpoint format from the name {str(name)!r}; "
                     f"pass format= one of {', '.join(FORMATS)}")


def _as_array(name: Any, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    except Exception as error:
        raise TypeError(f"{name!r} is not an array: {error}") from None
    if array.dtype.hasobject:
        raise TypeError(f"{name!r} is not a numeric array (got {type(value).__name__})")
    return array


def _arrays_in(obj: Any) -> Any:
    """Convert array-likes (torch tensors) in containers for the torch writer."""
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):
        return _as_array("tensor", obj)
    if isinstance(obj, dict):
        converted = {k: _arrays_in(v) for k, v in obj.items()}
        return type(obj)(converted) if isinstance(obj, type(converted)) else converted
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays_in(v) for v in obj)
    return obj
