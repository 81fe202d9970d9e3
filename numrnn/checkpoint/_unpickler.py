"""A pickle interpreter that never executes code from the file.

``pickle.Unpickler`` imports and calls whatever a pickle names. This one is a
small opcode interpreter written for checkpoints: a pickle may only name the
globals in ``ALLOWED`` (all of which are implemented here, none imported), plus
classes that it instantiates with NEWOBJ (``torch.save(model)`` pickles every
module that way): those become inert :class:`StandIn` objects that only record
their state. Anything else -- calling an unknown global, ``os.system``,
``builtins.eval``, ``getattr`` gadgets, extension codes, out-of-band buffers --
raises :class:`UnsafeCheckpointError` naming the global.

Every length the pickle states is checked against the bytes that are really
there before anything is read or allocated, and the result is walked once to
refuse cycles and nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import struct
from collections import OrderedDict
from typing import Any, Callable

from ._errors import CheckpointError, UnsafeCheckpointError
from ._numpy_pickles import (
    NUMPY_MODULES,
    NumpyArray,
    NumpyDtype,
    numpy_dtype,
    numpy_reconstruct,
    numpy_scalar,
)
from ._tensors import STORAGE_DTYPES, TORCH_DTYPES, TorchDtype, make_tensor

__all__ = ["Unpickler", "StandIn", "GlobalRef", "StorageType", "MAX_DEPTH"]

MAX_DEPTH = 500

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
_NEVER_EXCEPT_PREFIXES = ("torch.nn.modules.",)  # torch's own layers may be stand-ins


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


class _Call:
    """An allowed global that a pickle may call with REDUCE."""

    __slots__ = ("qualname", "fn")

    def __init__(self, qualname: str, fn: Callable[..., Any]) -> None:
        self.qualname, self.fn = qualname, fn

    def __repr__(self) -> str:
        return f"<allowed {self.qualname}>"


class _Marker:
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
    if not isinstance(func, _Call) or func.qualname not in _TENSOR_REBUILDERS:
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
    if not isinstance(base, _Marker) or base.qualname != "builtins.object" or state is not None:
        raise UnsafeCheckpointError("copyreg._reconstructor", f"with base {base!r}")
    return _new_standin(cls, ())


def _newobj(cls, *args):
    return _new_standin(cls, args)


def _rebuild_v1(storage, offset, size, stride):
    return make_tensor(storage, offset, size, stride)


_TENSOR_REBUILDERS = {
    "torch._utils._rebuild_tensor": _rebuild_v1,
    "torch._utils._rebuild_tensor_v2": _rebuild_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
}

_DEFERRABLE = {"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
               "torch._utils._rebuild_tensor_v3", "torch._tensor._rebuild_from_type_v2"}

# The allow-list: every global a torch checkpoint needs, each implemented above.
ALLOWED: dict[str, Any] = {
    **{name: _Call(name, fn) for name, fn in _TENSOR_REBUILDERS.items()},
    "torch._tensor._rebuild_from_type_v2": _Call("torch._tensor._rebuild_from_type_v2",
                                                 _rebuild_from_type_v2),
    "collections.OrderedDict": _Call("collections.OrderedDict", _ordered_dict),
    "builtins.set": _Call("builtins.set", _set),
    "builtins.frozenset": _Call("builtins.frozenset", lambda x=(): _set(x, frozenset)),
    "builtins.bytearray": _Call("builtins.bytearray", _bytearray),
    "builtins.complex": _Call("builtins.complex", _complex),
    "_codecs.encode": _Call("_codecs.encode", _encode),
    "torch.Size": _Call("torch.Size", _size),
    "torch.device": _Call("torch.device", _device),
    "copyreg._reconstructor": _Call("copyreg._reconstructor", _reconstructor),
    "copyreg.__newobj__": _Call("copyreg.__newobj__", _newobj),
    "builtins.object": _Marker("builtins.object"),
    "torch.Tensor": _Marker("torch.Tensor"),
    "torch.nn.parameter.Parameter": _Marker("torch.nn.parameter.Parameter"),
    "torch.storage.UntypedStorage": StorageType("UntypedStorage", None),
    **{f"torch.{name}": dtype for name, dtype in TORCH_DTYPES.items()},
    # NumPy scalars and arrays (plain numeric dtypes only; see _numpy_pickles)
    "numpy.dtype": _Call("numpy.dtype", numpy_dtype),
    "numpy.ndarray": _Marker("numpy.ndarray"),
    **{f"{module}.scalar": _Call(f"{module}.scalar", numpy_scalar) for module in NUMPY_MODULES},
    **{f"{module}._reconstruct": _Call(f"{module}._reconstruct", numpy_reconstruct)
       for module in NUMPY_MODULES},
    **{f"{module}.{cls}": StorageType(cls, TORCH_DTYPES[name])
       for cls, name in STORAGE_DTYPES.items() for module in ("torch", "torch.cuda")},
}
# torch globals that are safe but describe tensors numrnn cannot represent
_UNSUPPORTED = {"torch.serialization._get_layout", "torch.per_tensor_affine",
                "torch.per_tensor_symmetric", "torch.per_channel_affine",
                "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
                "torch._utils._rebuild_wrapper_subclass"}


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
    if qualname.startswith("torch._utils._rebuild_") or qualname in _UNSUPPORTED:
        raise CheckpointError(f"{qualname}: quantized, sparse, nested and other special "
                              "tensors are not supported")
    root = module.split(".", 1)[0]
    if (root in _NEVER and not module.startswith(_NEVER_EXCEPT_PREFIXES)) or (
            not name.isidentifier() or not all(p.isidentifier() for p in module.split("."))):
        raise UnsafeCheckpointError(qualname)
    return GlobalRef(module, name)


def _new_standin(cls: Any, args: tuple, kwargs: dict | None = None) -> StandIn:
    if not isinstance(cls, GlobalRef):
        raise CheckpointError(f"NEWOBJ of {cls!r}, which is not a class")
    return StandIn(cls, args, kwargs)


# --- the interpreter ----------------------------------------------------------------

_INT_DIGITS = 4300  # Python's own limit on int(str)


class Unpickler:
    """Interpret one pickle from ``data[pos:]``; ``load()`` returns the object.

    ``persistent_load(pid)`` resolves persistent ids (torch storages); without it
    a persistent id is an error. ``end`` is the offset just past STOP after load.
    """

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0, *,
                 persistent_load: Callable[[Any], Any] | None = None) -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = pos
        self._persistent_load = persistent_load
        self.end = pos
        self.build_tensors = True  # False: a first pass that only learns the storages
        self._depth: dict[int, tuple[int, Any]] = {}  # id -> (depth, obj) of tuples

    # reading -----------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise CheckpointError(f"pickle truncated: wants {n} bytes at offset {self._pos}, "
                                  f"file has {len(self._data) - self._pos}")
        chunk = bytes(self._data[self._pos:self._pos + n])
        self._pos += n
        return chunk

    def _readline(self) -> bytes:
        data, start = self._data, self._pos
        limit = min(len(data), start + 65536)
        for i in range(start, limit):
            if data[i] == 10:
                self._pos = i + 1
                return bytes(data[start:i])
        raise CheckpointError("pickle truncated or line too long")

    def _unpack(self, fmt: str) -> int:
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))[0]

    # the stack -----------------------------------------------------------------
    def _pop_mark(self) -> list:
        if not self._marks:
            raise CheckpointError("pickle pops a MARK that is not there")
        fence = self._marks.pop()
        items = self._stack[fence:]
        del self._stack[fence:]
        return items

    def _pop(self) -> Any:
        if len(self._stack) <= (self._marks[-1] if self._marks else 0):
            raise CheckpointError("pickle stack underflow")
        return self._stack.pop()

    def _top(self) -> Any:
        if len(self._stack) <= (self._marks[-1] if self._marks else 0):
            raise CheckpointError("pickle stack underflow")
        return self._stack[-1]

    def _tuple(self, items: list) -> tuple:
        # hashing nested tuples recurses in C without a guard: cap their depth
        depth = 1 + max((self._depth[id(x)][0] for x in items
                         if isinstance(x, (tuple, frozenset)) and id(x) in self._depth),
                        default=0)
        if depth > MAX_DEPTH:
            raise CheckpointError(f"pickle nests deeper than {MAX_DEPTH} levels")
        result = tuple(items)
        self._depth[id(result)] = (depth, result)
        return result

    # calls -----------------------------------------------------------------
    def _call(self, func: Any, args: Any) -> Any:
        if isinstance(func, GlobalRef):
            raise UnsafeCheckpointError(func.qualname, "calling it would run code")
        if not isinstance(func, _Call):
            raise CheckpointError(f"pickle calls {type(func).__name__}, which is not callable")
        if not isinstance(args, tuple):
            raise CheckpointError(f"arguments to {func.qualname} are not a tuple")
        if not self.build_tensors and func.qualname in _DEFERRABLE:
            return None
        try:
            return func.fn(*args)
        except TypeError as error:
            raise CheckpointError(f"bad arguments to {func.qualname}: {error}") from None

    def _build(self, obj: Any, state: Any) -> None:
        if isinstance(obj, NumpyDtype):
            obj.build(state)
        elif isinstance(obj, NumpyArray):
            array = obj.build(state)  # the array replaces its placeholder everywhere
            self._stack[-1] = array
            for key in obj.memo_keys:
                if self._memo.get(key) is obj:
                    self._memo[key] = array
        elif isinstance(obj, StandIn):
            slots = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slots = state
            for part in (state, slots):
                if isinstance(part, dict):
                    obj.state.update(part)
                elif part is not None:
                    obj.state["__setstate__"] = part
        elif isinstance(obj, OrderedDict) and isinstance(state, dict):
            # state_dict()'s ``_metadata`` attribute; never dunder names
            for key, value in state.items():
                if isinstance(key, str) and key.isidentifier() and not key.startswith("__"):
                    setattr(obj, key, value)
        elif state is not None:
            raise CheckpointError(f"pickle sets state on a {type(obj).__name__}")

    # the loop ------------------------------------------------------------------
    def load(self) -> Any:
        self._stack: list = []
        self._marks: list[int] = []  # stack heights at each MARK
        self._memo: dict[int, Any] = {}
        while True:
            op = self._read(1)
            handler = _OPS.get(op)
            if handler is None:
                raise CheckpointError(f"unknown or refused pickle opcode {op!r} "
                                      f"at offset {self._pos - 1}")
            if handler(self):
                break
        self.end = self._pos
        result = self._pop()
        check_structure(result)
        return result


def _dispatch() -> dict[bytes, Callable[[Unpickler], bool | None]]:
    """opcode -> handler; a handler returns True at STOP."""
    ops: dict[bytes, Callable[[Unpickler], bool | None]] = {}

    def op(code: bytes):
        def register(fn):
            ops[code] = fn
            return fn
        return register

    push = lambda u, v: u._stack.append(v)  # noqa: E731

    @op(b".")
    def _stop(u): return True

    @op(b"\x80")
    def _proto(u):
        if u._read(1)[0] > 5:
            raise CheckpointError("unsupported pickle protocol")

    @op(b"\x95")
    def _frame(u): u._unpack("<Q")  # framing is only a read-ahead hint

    @op(b"(")
    def _mark(u): u._marks.append(len(u._stack))

    @op(b"0")
    def _pop(u):
        if u._marks and len(u._stack) == u._marks[-1]:
            u._marks.pop()
        else:
            u._pop()

    @op(b"1")
    def _pop_mark(u): u._pop_mark()

    @op(b"2")
    def _dup(u): push(u, u._top())

    # constants
    ops[b"N"] = lambda u: push(u, None)
    ops[b"\x88"] = lambda u: push(u, True)
    ops[b"\x89"] = lambda u: push(u, False)
    ops[b"J"] = lambda u: push(u, u._unpack("<i"))
    ops[b"K"] = lambda u: push(u, u._read(1)[0])
    ops[b"M"] = lambda u: push(u, u._unpack("<H"))
    ops[b"G"] = lambda u: push(u, u._unpack(">d"))

    @op(b"I")
    def _int(u):
        line = u._readline()
        if line in (b"00", b"01"):
            push(u, line == b"01")
        else:
            push(u, _parse_int(line))

    @op(b"L")
    def _long(u): push(u, _parse_int(u._readline().rstrip(b"L")))

    @op(b"F")
    def _float(u): push(u, float(u._readline()))

    @op(b"\x8a")
    def _long1(u): push(u, int.from_bytes(u._read(u._read(1)[0]), "little", signed=True))

    @op(b"\x8b")
    def _long4(u):
        n = u._unpack("<i")
        if n > _INT_DIGITS:
            raise CheckpointError("pickle integer too large")
        push(u, int.from_bytes(u._read(n), "little", signed=True))

    # strings and bytes
    ops[b"X"] = lambda u: push(u, _utf8(u._read(u._unpack("<I"))))
    ops[b"\x8c"] = lambda u: push(u, _utf8(u._read(u._read(1)[0])))
    ops[b"\x8d"] = lambda u: push(u, _utf8(u._read(u._unpack("<Q"))))
    ops[b"V"] = lambda u: push(u, u._readline().decode("raw-unicode-escape"))
    ops[b"B"] = lambda u: push(u, u._read(u._unpack("<I")))
    ops[b"C"] = lambda u: push(u, u._read(u._read(1)[0]))
    ops[b"\x8e"] = lambda u: push(u, u._read(u._unpack("<Q")))
    ops[b"\x96"] = lambda u: push(u, bytearray(u._read(u._unpack("<Q"))))
    ops[b"T"] = lambda u: push(u, u._read(u._unpack("<i")).decode("latin-1"))
    ops[b"U"] = lambda u: push(u, u._read(u._read(1)[0]).decode("latin-1"))

    @op(b"S")
    def _string(u):
        line = u._readline()
        if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
            raise CheckpointError("malformed pickle STRING")
        push(u, codecs.escape_decode(line[1:-1])[0].decode("latin-1"))

    # containers
    ops[b"]"] = lambda u: push(u, [])
    ops[b"}"] = lambda u: push(u, {})
    ops[b")"] = lambda u: push(u, ())
    ops[b"\x8f"] = lambda u: push(u, set())
    ops[b"l"] = lambda u: push(u, u._pop_mark())
    ops[b"t"] = lambda u: push(u, u._tuple(u._pop_mark()))
    ops[b"\x85"] = lambda u: push(u, u._tuple([u._pop()]))

    @op(b"\x86")
    def _tuple2(u):
        b, a = u._pop(), u._pop()
        push(u, u._tuple([a, b]))

    @op(b"\x87")
    def _tuple3(u):
        c, b, a = u._pop(), u._pop(), u._pop()
        push(u, u._tuple([a, b, c]))

    @op(b"\x91")
    def _frozenset(u): push(u, frozenset(u._pop_mark()))

    @op(b"d")
    def _dict(u):
        items = u._pop_mark()
        if len(items) % 2:
            raise CheckpointError("odd number of items in pickle DICT")
        push(u, dict(zip(items[::2], items[1::2])))

    @op(b"a")
    def _append(u):
        value = u._pop()
        _as(u._top(), list, "APPEND").append(value)

    @op(b"e")
    def _appends(u):
        items = u._pop_mark()
        _as(u._top(), list, "APPENDS").extend(items)

    @op(b"s")
    def _setitem(u):
        value, key = u._pop(), u._pop()
        _as(u._top(), dict, "SETITEM")[key] = value

    @op(b"u")
    def _setitems(u):
        items = u._pop_mark()
        target = _as(u._top(), dict, "SETITEMS")
        if len(items) % 2:
            raise CheckpointError("odd number of items in pickle SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    @op(b"\x90")
    def _additems(u):
        items = u._pop_mark()
        _as(u._top(), set, "ADDITEMS").update(items)

    # memo
    def _get(u, key: int) -> None:
        if key not in u._memo:
            raise CheckpointError(f"pickle memo has no entry {key}")
        push(u, u._memo[key])

    def _put(u, key: int) -> None:
        if key < 0:
            raise CheckpointError("negative pickle memo key")
        value = u._memo[key] = u._top()
        if isinstance(value, NumpyArray):
            value.memo_keys.append(key)

    ops[b"g"] = lambda u: _get(u, _parse_int(u._readline()))
    ops[b"h"] = lambda u: _get(u, u._read(1)[0])
    ops[b"j"] = lambda u: _get(u, u._unpack("<I"))
    ops[b"p"] = lambda u: _put(u, _parse_int(u._readline()))
    ops[b"q"] = lambda u: _put(u, u._read(1)[0])
    ops[b"r"] = lambda u: _put(u, u._unpack("<I"))
    ops[b"\x94"] = lambda u: _put(u, len(u._memo))

    # globals, calls, objects
    @op(b"c")
    def _global(u):
        module, name = _utf8(u._readline()), _utf8(u._readline())
        push(u, resolve_global(module, name))

    @op(b"\x93")
    def _stack_global(u):
        name, module = u._pop(), u._pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise CheckpointError("STACK_GLOBAL names are not strings")
        push(u, resolve_global(module, name))

    @op(b"R")
    def _reduce(u):
        args = u._pop()
        push(u, u._call(u._pop(), args))

    @op(b"\x81")
    def _newobj(u):
        args = u._pop()
        cls = u._pop()
        if not isinstance(args, tuple):
            raise CheckpointError("NEWOBJ arguments are not a tuple")
        push(u, _new_standin(cls, args))

    @op(b"\x92")
    def _newobj_ex(u):
        kwargs, args = u._pop(), u._pop()
        cls = u._pop()
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise CheckpointError("NEWOBJ_EX arguments are malformed")
        push(u, _new_standin(cls, args, kwargs))

    @op(b"b")
    def _build(u):
        state = u._pop()
        u._build(u._top(), state)

    @op(b"i")
    def _inst(u):
        module, name = _utf8(u._readline()), _utf8(u._readline())
        u._pop_mark()
        raise UnsafeCheckpointError(f"{module}.{name}", "INST would call it")

    @op(b"o")
    def _obj(u):
        items = u._pop_mark()
        target = items[0] if items else None
        name = getattr(target, "qualname", type(target).__name__)
        raise UnsafeCheckpointError(name, "OBJ would call it")

    def _ext(u, code: int) -> None:
        raise UnsafeCheckpointError(f"copyreg extension {code}", "extension registry")

    ops[b"\x82"] = lambda u: _ext(u, u._read(1)[0])
    ops[b"\x83"] = lambda u: _ext(u, u._unpack("<H"))
    ops[b"\x84"] = lambda u: _ext(u, u._unpack("<i"))

    # persistent ids (torch storages)
    def _persistent(u, pid: Any) -> None:
        if u._persistent_load is None:
            raise CheckpointError("pickle has a persistent id but this format has none")
        push(u, u._persistent_load(pid))

    ops[b"P"] = lambda u: _persistent(u, _utf8(u._readline()))
    ops[b"Q"] = lambda u: _persistent(u, u._pop())
    return ops


_OPS = _dispatch()


def _as(obj: Any, kind: type, opcode: str) -> Any:
    if not isinstance(obj, kind):
        raise CheckpointError(f"pickle {opcode} on a {type(obj).__name__}")
    return obj


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError("pickle string is not valid UTF-8") from None


def _parse_int(line: bytes) -> int:
    if len(line) > _INT_DIGITS:
        raise CheckpointError("pickle integer too large")
    try:
        return int(line)
    except ValueError:
        raise CheckpointError(f"malformed pickle integer {line[:20]!r}") from None


def check_structure(root: Any) -> None:
    """Refuse cycles, nesting deeper than MAX_DEPTH, and unresolved globals.

    Iterative (the structure may be deeper than Python's stack); each container
    is visited once, so shared sub-objects cost nothing extra.
    """
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        obj, depth, leaving = stack.pop()
        key = id(obj)
        if leaving:
            on_path.discard(key)
            done.add(key)
            continue
        if isinstance(obj, GlobalRef):
            raise UnsafeCheckpointError(obj.qualname, "a reference to it is in the result")
        if isinstance(obj, (NumpyArray, NumpyDtype)):
            raise CheckpointError("numpy value left incomplete by the pickle")
        if isinstance(obj, StandIn):
            children: Any = (obj.state, obj.__dict__["_standin"][1])
        elif isinstance(obj, dict):
            children = [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = obj
        else:
            continue
        if key in on_path:
            raise CheckpointError("pickle builds a recursive (self-containing) structure")
        if key in done:
            continue
        if depth > MAX_DEPTH:
            raise CheckpointError(f"pickle nests deeper than {MAX_DEPTH} levels")
        on_path.add(key)
        stack.append((obj, depth, True))
        stack.extend((child, depth + 1, False) for child in children)
