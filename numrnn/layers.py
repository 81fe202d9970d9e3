"""Feed-forward layers: Linear, Embedding, elementwise helpers and Sequential."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

from . import _random
from ._arrays import as_array, as_float_array, check_dtype, check_int
from .module import Module

__all__ = [
    "Linear",
    "Embedding",
    "Identity",
    "Tanh",
    "ReLU",
    "Sigmoid",
    "Dropout",
    "Sequential",
    "sigmoid",
]


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid written through tanh: no overflow and no warning for any input."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class Linear(Module):
    """``y = x W^T + b`` — ``torch.nn.Linear``.

    Shapes: ``x`` ``(*, in_features)`` → ``y`` ``(*, out_features)``.
    Parameters: ``weight`` ``(out_features, in_features)``, ``bias`` ``(out_features,)``,
    initialised uniform ±1/sqrt(in_features) as torch's default.

    >>> fc = Linear(5, 2)
    >>> fc(np.zeros((3, 5), np.float32)).shape
    (3, 2)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 0)
        self.out_features = check_int(out_features, "out_features", 0)
        self.dtype = check_dtype(dtype)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.register_parameter(
            "weight", _random.uniform(bound, (out_features, in_features), self.dtype)
        )
        self.register_parameter(
            "bias", _random.uniform(bound, (out_features,), self.dtype) if bias else None
        )

    def forward(self, x: Any) -> np.ndarray:
        x = as_float_array(x, self.dtype, "input")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            got = x.shape[-1] if x.ndim else "a scalar"
            raise ValueError(
                f"Linear: input.shape[-1] must equal in_features. Expected {self.in_features}, got {got}"
            )
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf propagate, as in torch
            y = np.matmul(x, self.weight.T)
        if self.bias is not None:
            y += self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A lookup table: ``y = weight[ids]`` — ``torch.nn.Embedding``.

    Shapes: integer ``ids`` of any shape ``(*)`` → ``(*, embedding_dim)``.
    ``weight`` ``(num_embeddings, embedding_dim)`` starts standard normal, with the
    ``padding_idx`` row zero. Ids outside ``[0, num_embeddings)`` raise ``IndexError``.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", 1)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        self.dtype = check_dtype(dtype)
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"padding_idx must be within [-{num_embeddings}, {num_embeddings}), got {padding_idx}"
                )
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        weight = _random.normal((num_embeddings, embedding_dim), self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.register_parameter("weight", weight)

    def forward(self, ids: Any) -> np.ndarray:
        arr = as_array(ids)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_embeddings):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise IndexError(f"Embedding: id {bad} is out of range [0, {self.num_embeddings})")
        return np.take(self.weight, arr, axis=0)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class _Elementwise(Module):
    """A parameter-free layer applying one function to float input of any shape."""

    def _fn(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: Any) -> np.ndarray:
        arr = as_array(x)
        return self._fn(
            as_float_array(arr, arr.dtype if arr.dtype.kind == "f" else np.float32, "input")
        )


class Identity(_Elementwise):
    """Returns its (float) input unchanged — ``torch.nn.Identity``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def _fn(self, x: np.ndarray) -> np.ndarray:
        return x


class Tanh(_Elementwise):
    """``tanh(x)`` — ``torch.nn.Tanh``."""

    def _fn(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


class ReLU(_Elementwise):
    """``max(x, 0)``, NaN kept — ``torch.nn.ReLU``."""

    def _fn(self, x: np.ndarray) -> np.ndarray:
        return np.where(x < 0, x.dtype.type(0), x)


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))`` — ``torch.nn.Sigmoid``."""

    def _fn(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(x)


class Dropout(_Elementwise):
    """``torch.nn.Dropout`` at inference: the identity. ``p`` is validated and kept."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if (
            isinstance(p, bool)
            or not isinstance(p, (int, float, np.floating, np.integer))
            or not 0 <= p <= 1
        ):
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        self.p = float(p)
        self.inplace = inplace

    def _fn(self, x: np.ndarray) -> np.ndarray:
        return x

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Sequential(Module):
    """Modules applied one after another — ``torch.nn.Sequential``.

    Children are keyed ``"0"``, ``"1"``, ... (or by name when given an OrderedDict),
    so state-dict keys match torch's: ``0.weight``, ``1.weight_ih_l0``...
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, mod in items:
            if not isinstance(mod, Module):
                raise TypeError(
                    f"Sequential: {name} is not a numrnn Module, got {type(mod).__name__}"
                )
            setattr(self, name, mod)

    def forward(self, x: Any) -> Any:
        for mod in self._modules.values():
            x = mod(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        if not -len(mods) <= idx < len(mods):
            raise IndexError(f"index {idx} is out of range for Sequential of length {len(mods)}")
        return mods[idx]

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self)), module)
        return self
