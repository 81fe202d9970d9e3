"""Module: parameters, child modules and torch-compatible state dicts.

Mirrors the part of ``torch.nn.Module`` an inference engine needs. Parameters are
plain NumPy arrays in torch's layout. They are stored read-only: layers derive
kernel-ready weights from them once (see ``_derived``), so a parameter changes only
through attribute assignment or ``load_state_dict``, both of which drop the derived
weights. ``model.fc.weight = new_array`` works; ``model.fc.weight[0] = 1`` raises
NumPy's "assignment destination is read-only" instead of silently going unseen.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from ._arrays import as_array

__all__ = ["Module", "StateDictError", "IncompatibleKeys"]


class StateDictError(ValueError):
    """A state dict that does not fit the model: every problem is listed at once.

    Attributes ``missing_keys``, ``unexpected_keys`` and ``mismatches`` (a list of
    ``(key, expected_shape, got_shape_or_reason)``) carry the details.
    """

    def __init__(
        self,
        owner: str,
        missing_keys: list[str],
        unexpected_keys: list[str],
        mismatches: list[tuple[str, tuple[int, ...], str]],
    ) -> None:
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys
        self.mismatches = mismatches
        lines = [f"Error(s) in loading state_dict for {owner}:"]
        if missing_keys:
            lines.append(
                "Missing key(s) in state_dict: " + ", ".join(map(repr, missing_keys)) + "."
            )
        if unexpected_keys:
            lines.append(
                "Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected_keys)) + "."
            )
        for key, shape, got in mismatches:
            lines.append(
                f"size mismatch for {key}: copying a param with {got} from checkpoint, "
                f"the shape in current model is {shape}."
            )
        super().__init__("\n\t".join(lines))


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match (torch's ``_IncompatibleKeys``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer, like ``torch.nn.Module``.

    Assigning a ``Module`` to an attribute registers it as a child, so a model
    written like the torch tutorial gets torch's state-dict keys::

        class SimpleRNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.RNN(3, 5, batch_first=True)   # keys rnn.weight_ih_l0, ...
                self.fc = nn.Linear(5, 2)                   # keys fc.weight, fc.bias

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.fc(out)

    Modules keep no per-call state, so one module may serve several threads at once.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_cache", None)
        object.__setattr__(self, "training", True)

    # -- running ---------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration ----------------------------------------------------------
    def register_parameter(self, name: str, value: np.ndarray | None) -> None:
        """Add a parameter (or ``None``, for an absent optional one such as a disabled bias)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if value is not None:
            value = np.array(value, copy=True)
            value.flags.writeable = False
        self.__dict__.pop(name, None)
        self._parameters[name] = value
        self._params_changed()

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call")
        if isinstance(value, Module):
            params.pop(name, None)
            self.__dict__.pop(name, None)
            self._modules[name] = value
        elif name in params:
            self._assign_parameter(name, value)
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} "
                    f"(numrnn.Module or None expected)"
                )
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached when ordinary lookup fails: parameters and children live here.
        d = self.__dict__
        if "_parameters" in d and name in d["_parameters"]:
            return d["_parameters"][name]
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
            self._params_changed()
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules))

    def _assign_parameter(self, name: str, value: Any) -> None:
        old = self._parameters[name]
        if value is None:
            self._parameters[name] = None
            self._params_changed()
            return
        arr = self._checked_value(old, value)
        if isinstance(arr, str):
            raise ValueError(f"cannot assign to parameter {name!r}: {arr}")
        self._parameters[name] = arr
        self._params_changed()

    @staticmethod
    def _checked_value(old: np.ndarray | None, value: Any) -> np.ndarray | str:
        """``value`` as a fresh read-only copy shaped and typed like ``old``, or why not."""
        try:
            arr = as_array(value)
        except Exception as exc:  # noqa: BLE001 - any failure to convert is reported
            return f"cannot convert {type(value).__name__} to an array ({exc})"
        if arr.dtype.kind not in "fiub":
            return f"expected real numbers, got dtype {arr.dtype}"
        if old is not None and arr.shape != old.shape:
            return f"shape {tuple(arr.shape)}"
        dtype = old.dtype if old is not None else arr.dtype
        out = np.array(arr, dtype=dtype, copy=True)
        out.flags.writeable = False
        return out

    # -- derived weights -------------------------------------------------------
    def _params_changed(self) -> None:
        object.__setattr__(self, "_cache", None)

    def _derived(self, build: Callable[[], Any]) -> Any:
        """Kernel-ready weights, built once per parameter change.

        Two threads may race to build them; both build the same value and the
        assignment is atomic, so the race is harmless.
        """
        cache = self.__dict__["_cache"]
        if cache is None:
            cache = build()
            object.__setattr__(self, "_cache", cache)
        return cache

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for arr in state["_parameters"].values():
            if arr is not None:
                arr.flags.writeable = False
        self.__dict__.update(state)

    # -- traversal -------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, mod in self._modules.items():
            if mod is not None:
                yield name, mod

    def children(self) -> Iterator[Module]:
        for _, mod in self.named_children():
            yield mod

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, each once (as torch)."""
        seen: set[int] = set()

        def walk(mod: Module, pre: str) -> Iterator[tuple[str, Module]]:
            if id(mod) in seen:
                return
            seen.add(id(mod))
            yield pre, mod
            for name, child in mod.named_children():
                yield from walk(child, f"{pre}.{name}" if pre else name)

        yield from walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        for _, mod in self.named_modules():
            yield mod

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, arr in mod._parameters.items():
                if arr is None or id(arr) in seen:
                    continue
                seen.add(id(arr))
                yield (f"{mod_name}.{name}" if mod_name else name), arr

    def parameters(self) -> Iterator[np.ndarray]:
        for _, arr in self.named_parameters():
            yield arr

    # -- state dicts -----------------------------------------------------------
    def _slots(self) -> list[tuple[str, Module, str]]:
        """``(full key, owning module, local name)`` for every present parameter, torch's order."""
        # Unlike named_modules, no de-duplication: a shared child appears under each
        # of its names, as in torch's state_dict.
        slots = []

        def walk(mod: Module, pre: str) -> None:
            for name, arr in mod._parameters.items():
                if arr is not None:
                    slots.append((pre + name, mod, name))
            for name, child in mod.named_children():
                walk(child, f"{pre}{name}.")

        walk(self, "")
        return slots

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Every parameter by torch's key, in torch's order (the arrays themselves, read-only)."""
        return OrderedDict((key, mod._parameters[name]) for key, mod, name in self._slots())

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy parameters from ``state_dict`` (torch's keys; arrays, lists or torch tensors).

        Values are copied and cast to each parameter's dtype. With ``strict=True``
        any missing or unexpected key raises ``StateDictError``; a shape mismatch
        always does. Every problem is reported in one error, and nothing is
        modified unless the whole load succeeds.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of key to array, got {type(state_dict).__name__}"
            )
        slots = self._slots()
        own = {key for key, _, _ in slots}
        missing = [key for key, _, _ in slots if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        mismatches = []
        new_values = []
        for key, mod, name in slots:
            if key not in state_dict:
                continue
            old = mod._parameters[name]
            arr = self._checked_value(old, state_dict[key])
            if isinstance(arr, str):
                mismatches.append((key, tuple(old.shape), arr))
            else:
                new_values.append((mod, name, arr))
        if mismatches or (strict and (missing or unexpected)):
            raise StateDictError(
                type(self).__name__,
                missing if strict else [],
                unexpected if strict else [],
                mismatches,
            )
        changed = {}
        for mod, name, arr in new_values:
            mod._parameters[name] = arr
            changed[id(mod)] = mod
        for mod in changed.values():
            mod._params_changed()
        return IncompatibleKeys(missing, unexpected)

    # -- modes and printing ----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Record the mode on this module and its descendants (inference only: nothing else changes)."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {type(mode).__name__}")
        for mod in self.modules():
            object.__setattr__(mod, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, mod in self._modules.items():
            child = repr(mod).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
