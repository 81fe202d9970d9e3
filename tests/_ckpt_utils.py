"""Helpers for the checkpoint tests: files torch writes, and files rewritten by hand."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import torch

from numrnn.checkpoint import load


def torch_bytes(obj, *, legacy: bool = False) -> bytes:
    """What ``torch.save(obj)`` writes (zip format, or the pre-1.6 legacy one)."""
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def load_bytes(data: bytes, **kwargs):
    return load(io.BytesIO(data), **kwargs)


def torch_load(data: bytes, weights_only: bool = True):
    return torch.load(io.BytesIO(data), weights_only=weights_only, map_location="cpu")


def zip_records(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(records: dict[str, bytes], compress: bool = False) -> bytes:
    """A zip of ``records`` in order (stored unless ``compress``)."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in records.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                             compress_type=method)
    return buf.getvalue()


def replace_pickle(data: bytes, pickle_bytes: bytes) -> bytes:
    """A torch zip checkpoint with its data.pkl replaced."""
    records = zip_records(data)
    name = next(n for n in records if n.endswith("/data.pkl"))
    records[name] = pickle_bytes
    return make_zip(records)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().resolve_conj().resolve_neg()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def assert_same(ours, theirs) -> None:
    """A loaded object equals torch.load's, tensors as arrays (same dtype, exact values)."""
    if isinstance(theirs, torch.Tensor):
        expected = as_numpy(theirs)
        assert isinstance(ours, np.ndarray), type(ours)
        assert ours.dtype == expected.dtype and ours.shape == expected.shape
        np.testing.assert_array_equal(ours, expected)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        assert type(ours) is type(theirs) and ours == theirs
