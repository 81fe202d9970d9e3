"""State dicts from whole pickled modules, and flat tensor dicts from checkpoints."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._unpickler import StandIn

__all__ = ["state_dict_from", "flatten_tensors"]


def state_dict_from(obj: Any) -> OrderedDict[str, np.ndarray]:
    """The torch-style state dict of a loaded checkpoint.

    For a whole pickled module (``torch.save(model)``, loaded as inert stand-ins)
    this walks ``_parameters``, persistent ``_buffers`` and ``_modules`` in
    torch's order, giving the keys ``model.state_dict()`` has (``rnn.weight_ih_l0``,
    ``fc.bias`` ...). A mapping of arrays (a state dict already) is returned as an
    OrderedDict. Anything else raises TypeError.

    >>> import numrnn
    >>> model = numrnn.load("model.pt")             # doctest: +SKIP
    >>> sd = numrnn.state_dict_from(model)           # doctest: +SKIP
    """
    if isinstance(obj, StandIn):
        result: OrderedDict[str, np.ndarray] = OrderedDict()
        _collect(obj, "", result, 0)
        return result
    if isinstance(obj, Mapping) and all(isinstance(v, np.ndarray) for v in obj.values()):
        return OrderedDict(obj)
    raise TypeError(f"expected a pickled module or a dict of arrays, got {type(obj).__name__}")


def _collect(module: StandIn, prefix: str, out: dict, depth: int) -> None:
    if depth > 200:
        raise ValueError("module tree nests deeper than 200 levels")
    state = module.state
    skip = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        members = state.get(group)
        if isinstance(members, Mapping):
            for name, value in members.items():
                if isinstance(value, np.ndarray) and not (group == "_buffers" and name in skip):
                    out[prefix + str(name)] = value
    children = state.get("_modules")
    if isinstance(children, Mapping):
        for name, child in children.items():
            if isinstance(child, StandIn):
                _collect(child, f"{prefix}{name}.", out, depth + 1)


def flatten_tensors(obj: Any) -> tuple[OrderedDict[str, np.ndarray], list[str]]:
    """Every array in a checkpoint under a dotted name, and the names of non-arrays.

    A whole module becomes its state dict; nested dicts and lists join their keys
    with dots (``{"model": {"fc.weight": w}}`` -> ``model.fc.weight``).
    """
    tensors: OrderedDict[str, np.ndarray] = OrderedDict()
    skipped: list[str] = []
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, StandIn):
            value = state_dict_from(value)
        if isinstance(value, np.ndarray):
            tensors[name or "tensor"] = value
        elif isinstance(value, Mapping):
            stack.extend((f"{name}.{k}" if name else str(k), v)
                         for k, v in reversed(list(value.items())))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{name}.{i}" if name else str(i), v)
                         for i, v in reversed(list(enumerate(value))))
        else:
            skipped.append(name or "<root>")
    return tensors, skipped
