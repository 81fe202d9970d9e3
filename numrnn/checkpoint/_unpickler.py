"""A pickle interpreter that never executes code from the file.

``pickle.Unpickler`` imports and calls whatever a pickle names. This one is a
small opcode interpreter written for checkpoints: a pickle may only name the
globals in ``_allowlist.ALLOWED`` (all implemented there, none imported), plus
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

import codecs
import struct
from collections import OrderedDict
from typing import Any, Callable

from ._allowlist import (
    DEFERRABLE,
    Call,
    GlobalRef,
    StandIn,
    StorageType,
    new_standin,
    resolve_global,
)
from ._errors import CheckpointError, UnsafeCheckpointError
from ._numpy_pickles import NumpyArray, NumpyDtype

__all__ = ["Unpickler", "StandIn", "GlobalRef", "StorageType", "MAX_DEPTH",
           "check_structure"]

MAX_DEPTH = 500


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
        # search growing windows: linear in the line's length, never a 64 KiB copy per line
        start, window = self._pos, 128
        while True:
            chunk = bytes(self._data[start:start + window])
            end = chunk.find(b"\n")
            if end >= 0:
                self._pos = start + end + 1
                return chunk[:end]
            if window >= 65536 or start + window >= len(self._data):
                raise CheckpointError("pickle truncated or line too long")
            window *= 8

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
        if not isinstance(func, Call):
            raise CheckpointError(f"pickle calls {type(func).__name__}, which is not callable")
        if not isinstance(args, tuple):
            raise CheckpointError(f"arguments to {func.qualname} are not a tuple")
        if not self.build_tensors and func.qualname in DEFERRABLE:
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
        push(u, new_standin(cls, args))

    @op(b"\x92")
    def _newobj_ex(u):
        kwargs, args = u._pop(), u._pop()
        cls = u._pop()
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise CheckpointError("NEWOBJ_EX arguments are malformed")
        push(u, new_standin(cls, args, kwargs))

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
            _, args, kwargs, state = obj.__dict__["_standin"]
            children: Any = (state, args, kwargs)
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
