"""The allow-list: every global a torch checkpoint may name, each implemented here.

Nothing is imported on a pickle's word. A name on ``ALLOWED`` maps to a small
function written here (tensor rebuilders, OrderedDict, set, ...) or to an inert
marker (dtypes, storage types). Any other name becomes a :class:`GlobalRef`,
which the interpreter refuses to call; instantiated with NEWOBJ (how
``torch.save(model)`` pickles modules) it becomes an inert :class:`StandIn`.
Names from modules in ``_NEVER`` (``os``, ``builtins``, ``subprocess`` ...) are
refused as soon as they are named.
"""

from __future__ import annotations

import _compat_pickle
import re
from collections import OrderedDict
from typing import Any, Callable

from ._errors import CheckpointError, UnsafeCheckpointError
from ._numpy_pickles import NUMPY_MODULES, numpy_dtype, numpy_reconstruct, numpy_scalar
from ._tensors import STORAGE_DTYPES, TORCH_DTYPES, TorchDtype, make_tensor

__all__ = ["ALLOWED", "GlobalRef", "StandIn", "StorageType", "Call", "Marker",
           "resolve_global", "new_standin", "DEFERRABLE"]

# Modules that are never a model's class: refused as soon as they are named.
_NEVER = {
    "builtins", "__builtin__", "os", "posix", "nt", "sys", "subprocess", "shutil",
    "importlib", "runpy", "code", "codeop", "pickle", "_pickle", "marshal", "types",
    "functools", "operator", "ctypes", "socket", "io", "_io", "pathlib", "pty", "platform",
    "webbrowser", "multiprocessing", "asyncio", "threading", "signal", "tempfile", "glob",
    "codecs", "_codecs", "copyreg", "copy_reg", "inspect", "ast", "numpy", "pydoc", "timeit",
    "bdb", "pdb", "trace", "cProfile", "profile", "site", "sysconfig", "gc", "weakref",
    "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "zipimport", "pkgutil",
    "torch",
}
# torch's own layers, wrappers (DataParallel) and optimizers may be stand-ins
_NEVER_EXCEPT_PREFIXES = ("torch.nn.", "torch.ao.nn.", "torch.optim.")


class GlobalRef:
    """A global the pickle named that is not on the allow-list (never imported)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"<global {self.qualname}>"


class StandIn:
    """An inert stand-in for an object of a class the pickle named (a torch Module).

    It records the class name, constructor arguments and the state the pickle
    gave it; none of the class's code exists here, so none can run. Attributes
    resolve like a torch module's: parameters, buffers, submodules, then state.
    """

    def __init__(self, cls: GlobalRef, args: tuple = (), kwargs: dict | None = None) -> None:
        self.__dict__["_standin"] = (cls.qualname, args, kwargs or {}, {})

    @property
    def qualname(self) -> str:
        """Dotted name of the class the pickle named (``torch.nn.modules.rnn.RNN``)."""
        return self.__dict__["_standin"][0]

    @property
    def classname(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def state(self) -> dict:
        """The object's ``__dict__`` as pickled (``_parameters``, ``_modules``, ...)."""
        return self.__dict__["_standin"][3]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        state = self.__dict__["_standin"][3]
        for group in ("_parameters", "_buffers", "_modules"):
            members = state.get(group)
            if isinstance(members, dict) and name in members:
                return members[name]
        if name in state:
            return state[name]
        raise AttributeError(f"stand-in for {self.qualname} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("stand-ins are read-only records of pickled state")

    def __repr__(self) -> str:
        return f"<stand-in {self.qualname}>"


class StorageType:
    """``torch.FloatStorage`` and friends, as named in persistent ids."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: TorchDtype | None) -> None:
        self.name, self.dtype = name, dtype

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Call:
    """An allowed global that a pickle may call with REDUCE."""

    __slots__ = ("qualname", "fn")

    def __init__(self, qualname: str, fn: Callable[..., Any]) -> None:
        self.qualname, self.fn = qualname, fn

    def __repr__(self) -> str:
        return f"<allowed {self.qualname}>"


class Marker:
    """An allowed global used only as a type tag (``torch.Tensor``, ``builtins.object``)."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __repr__(self) -> str:
        return f"<marker {self.qualname}>"


# --- the implementations of the allowed globals -----------------------------------

def _rebuild_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                metadata=None):
    return make_tensor(storage, offset, size, stride, None, metadata)


def _rebuild_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return make_tensor(storage, offset, size, stride, dtype, metadata)


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if not isinstance(func, Call) or func.qualname not in _TENSOR_REBUILDERS:
        raise CheckpointError(f"_rebuild_from_type_v2 with {func!r}")
    if not isinstance(args, tuple):
        raise CheckpointError("_rebuild_from_type_v2 arguments are not a tuple")
    return func.fn(*args)


def _ordered_dict(items=()):
    if not isinstance(items, (dict, list, tuple)):
        raise CheckpointError(f"OrderedDict of a {type(items).__name__}")
    return OrderedDict(items)


def _set(items=(), kind=set):
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise CheckpointError(f"set of a {type(items).__name__}")
    return kind(items)


def _bytearray(data=b"", encoding=None):
    if isinstance(data, str) and encoding in ("latin1", "latin-1"):
        return bytearray(data.encode("latin-1"))
    if not isinstance(data, (bytes, bytearray)):  # bytearray(10**12) would allocate
        raise CheckpointError(f"bytearray of a {type(data).__name__}")
    return bytearray(data)


def _encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise CheckpointError(f"_codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode(encoding)


def _complex(real=0.0, imag=0.0):
    if not all(type(v) in (int, float) for v in (real, imag)):
        raise CheckpointError("complex of non-numbers")
    return complex(real, imag)


def _size(dims=()):
    if not isinstance(dims, (tuple, list)) or not all(type(d) is int for d in dims):
        raise CheckpointError("torch.Size of non-integers")
    return tuple(dims)


def _device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise CheckpointError("malformed torch.device")
    return kind if index is None else f"{kind}:{index}"


def _reconstructor(cls, base, state=None):
    """copyreg._reconstructor(cls, object, None): protocol 0/1 ``object.__new__``."""
    if not isinstance(base, Marker) or base.qualname != "builtins.object" or state is not None:
        raise UnsafeCheckpointError("copyreg._reconstructor", f"with base {base!r}")
    return new_standin(cls, ())


def _newobj(cls, *args):
    return new_standin(cls, args)


def _rebuild_v1(storage, offset, size, stride):
    return make_tensor(storage, offset, size, stride)


_TENSOR_REBUILDERS = {
    "torch._utils._rebuild_tensor": _rebuild_v1,
    "torch._utils._rebuild_tensor_v2": _rebuild_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
}

DEFERRABLE = {"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
               "torch._utils._rebuild_tensor_v3", "torch._tensor._rebuild_from_type_v2"}

# The allow-list: every global a torch checkpoint needs, each implemented above.
ALLOWED: dict[str, Any] = {
    **{name: Call(name, fn) for name, fn in _TENSOR_REBUILDERS.items()},
    "torch._tensor._rebuild_from_type_v2": Call("torch._tensor._rebuild_from_type_v2",
                                                 _rebuild_from_type_v2),
    "collections.OrderedDict": Call("collections.OrderedDict", _ordered_dict),
    "builtins.set": Call("builtins.set", _set),
    "builtins.frozenset": Call("builtins.frozenset", lambda x=(): _set(x, frozenset)),
    "builtins.bytearray": Call("builtins.bytearray", _bytearray),
    "builtins.complex": Call("builtins.complex", _complex),
    "_codecs.encode": Call("_codecs.encode", _encode),
    "torch.Size": Call("torch.Size", _size),
    "torch.device": Call("torch.device", _device),
    "copyreg._reconstructor": Call("copyreg._reconstructor", _reconstructor),
    "copyreg.__newobj__": Call("copyreg.__newobj__", _newobj),
    "builtins.object": Marker("builtins.object"),
    "torch.Tensor": Marker("torch.Tensor"),
    "torch.nn.parameter.Parameter": Marker("torch.nn.parameter.Parameter"),
    "torch.storage.UntypedStorage": StorageType("UntypedStorage", None),
    **{f"torch.{name}": dtype for name, dtype in TORCH_DTYPES.items()},
    # NumPy scalars and arrays (plain numeric dtypes only; see _numpy_pickles)
    "numpy.dtype": Call("numpy.dtype", numpy_dtype),
    "numpy.ndarray": Marker("numpy.ndarray"),
    **{f"{module}.scalar": Call(f"{module}.scalar", numpy_scalar) for module in NUMPY_MODULES},
    **{f"{module}._reconstruct": Call(f"{module}._reconstruct", numpy_reconstruct)
       for module in NUMPY_MODULES},
    **{f"{module}.{cls}": StorageType(cls, TORCH_DTYPES[name])
       for cls, name in STORAGE_DTYPES.items() for module in ("torch", "torch.cuda")},
}
# torch globals that are safe but describe tensors numrnn cannot represent
_UNSUPPORTED = {"torch.serialization._get_layout", "torch.per_tensor_affine",
                "torch.per_tensor_symmetric", "torch.per_channel_affine",
                "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
                "torch._utils._rebuild_wrapper_subclass"}


# other torch dtypes and storages (float8 fnuz, uint1..7, quantized ...): known, not unsafe
_UNSUPPORTED_TORCH_TYPE = re.compile(r"^(u?int\d+|float\d+\w*|bits\w+|complex\d+|q\w+|\w+Storage)$")


def resolve_global(module: str, name: str) -> Any:
    """The allowed object for ``module.name``, or a GlobalRef for a would-be class.

    Python 2 names are first mapped as ``pickle`` maps them (``__builtin__`` ->
    ``builtins``, ``commands`` -> ``subprocess``), so refusals name what pickle
    would really have imported.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    qualname = f"{module}.{name}"
    if qualname in ALLOWED:
        return ALLOWED[qualname]
    if module in ("torch", "torch.cuda") and _UNSUPPORTED_TORCH_TYPE.match(name):
        raise CheckpointError(f"{qualname}: this dtype or storage type is not supported")
    if qualname.startswith("torch._utils._rebuild_") or qualname in _UNSUPPORTED:
        raise CheckpointError(f"{qualname}: quantized, sparse, nested and other special "
                              "tensors are not supported")
    root = module.split(".", 1)[0]
    if (root in _NEVER and not module.startswith(_NEVER_EXCEPT_PREFIXES)) or (
            not name.isidentifier() or not all(p.isidentifier() for p in module.split("."))):
        raise UnsafeCheckpointError(qualname)
    return GlobalRef(module, name)


def new_standin(cls: Any, args: tuple, kwargs: dict | None = None) -> StandIn:
    if not isinstance(cls, GlobalRef):
        raise CheckpointError(f"NEWOBJ of {cls!r}, which is not a class")
    return StandIn(cls, args, kwargs)
