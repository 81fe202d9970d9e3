"""The ``numrnn`` command: ``demo``, ``inspect FILE``, ``convert SRC DST``.

Errors are one line on stderr and exit status 1 (2 for usage errors); never a
traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from importlib import resources
from typing import Any, Sequence

import numpy as np

from .checkpoint import (
    CheckpointError,
    StandIn,
    flatten_tensors,
    load,
    load_with_format,
    save,
    state_dict_from,
)

__all__ = ["main", "recognise_layers"]

_FORMAT_NAMES = {
    "torch": "torch zip checkpoint (torch >= 1.6)",
    "torch-legacy": "torch legacy checkpoint (torch < 1.6)",
    "safetensors": "safetensors",
    "npz": "NumPy .npz",
    "npy": "NumPy .npy",
    "pickle": "bare pickle (read with the restricted unpickler)",
}


# --- demo -----------------------------------------------------------------------------

def _demo_model() -> Any:
    import numrnn as nn

    class SimpleRNN(nn.Module):
        """The seed notebook's model: RNN(3 -> 5, tanh) + Linear(5 -> 2) on the last step."""

        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(3, 5, batch_first=True)
            self.fc = nn.Linear(5, 2)

        def forward(self, x: np.ndarray) -> np.ndarray:
            out, _ = self.rnn(x)  # [N, T, 5]
            return self.fc(out[:, -1, :])  # [N, 2]

    return SimpleRNN()


def _demo(args: argparse.Namespace) -> int:
    data = resources.files("numrnn") / "data"
    with resources.as_file(data / "simple_rnn.pt") as path:
        state = load(path)
    with resources.as_file(data / "simple_rnn_io.npz") as path:
        io = load(path)
    model = _demo_model()
    model.load_state_dict(state)
    ours = model(io["input"])
    theirs = io["output"]
    print("SimpleRNN: RNN(3, 5, batch_first=True) + Linear(5, 2), trained by torch;")
    print(f"input {tuple(io['input'].shape)} [N, T, D], run here with NumPy alone\n")
    print(f"{'sample':>6}  {'numrnn':>24}  {'torch':>24}")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        print(f"{i:>6}  {_row(a):>24}  {_row(b):>24}")
    print(f"\nlargest difference: {np.max(np.abs(ours - theirs)):.3g}")
    return 0


def _row(values: np.ndarray) -> str:
    return "  ".join(f"{v:+.6f}" for v in values)


# --- inspect --------------------------------------------------------------------------

_RECURRENT = re.compile(r"weight_ih_l(\d+)(_reverse)?$")
_KINDS = {1: "RNN", 3: "GRU", 4: "LSTM"}


def recognise_layers(tensors: Mapping[str, np.ndarray]) -> list[tuple[str, str]]:
    """``(prefix, description)`` for each layer recognisable from a state dict's keys.

    Recurrent layers come from ``weight_ih_l{k}`` keys and the gate multiple of
    their rows (1: RNN, 3: GRU, 4: LSTM); the rest of the configuration from the
    shapes, and the whole layout is checked against torch's.
    """
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = value
    found = []
    for prefix, params in groups.items():
        description = _describe(prefix, params)
        if description:
            found.append((prefix, description))
    return found


def _describe(prefix: str, params: dict[str, np.ndarray]) -> str | None:
    shape = {name: tuple(np.shape(v)) for name, v in params.items()}
    matrix = {name for name, dims in shape.items() if len(dims) == 2}
    if {"weight_ih_l0", "weight_hh_l0"} <= matrix:
        return _describe_recurrent(shape)
    if {"weight_ih", "weight_hh"} <= matrix:
        (rows, input_size), hidden = shape["weight_ih"], shape["weight_hh"][1]
        kind = _KINDS.get(rows // hidden) if hidden and rows % hidden == 0 else None
        if kind:
            return (f"{kind}Cell(input_size={input_size}, hidden_size={hidden}, "
                    f"bias={'bias_ih' in shape})")
    if "weight" in matrix:
        rows, cols = shape["weight"]
        if set(shape) == {"weight", "bias"} and shape["bias"] == (rows,):
            return f"Linear(in_features={cols}, out_features={rows})"
        if set(shape) == {"weight"}:
            if "emb" in prefix.lower():
                return f"Embedding({rows}, {cols})"
            return f"Linear({cols}, {rows}, bias=False) or Embedding({rows}, {cols})"
    return None


def _describe_recurrent(shape: dict[str, tuple[int, ...]]) -> str | None:
    """RNN/LSTM/GRU(...) from torch's keys; the gate multiple of the rows names the kind."""
    from .recurrent import param_layout

    rows, input_size = shape["weight_ih_l0"]
    projection = shape.get("weight_hr_l0", ())
    if len(projection) == 2:  # LSTM with proj_size: weight_hr is [proj_size, hidden]
        proj_size, hidden = projection
    else:
        proj_size, hidden = 0, shape["weight_hh_l0"][1]
    kind = _KINDS.get(rows // hidden) if hidden and rows % hidden == 0 else None
    if kind is None:
        return None
    layers = 1 + max(int(m.group(1)) for m in map(_RECURRENT.match, shape) if m)
    bidirectional = any(name.endswith("_reverse") for name in shape)
    bias = "bias_ih_l0" in shape
    config = dict(input_size=input_size, hidden_size=hidden, num_layers=layers, bias=bias,
                  bidirectional=bidirectional)
    if proj_size:
        config["proj_size"] = proj_size
    text = f"{kind}({', '.join(f'{k}={v}' for k, v in config.items())})"
    per_layer = (1 + bidirectional) * (2 + 2 * bias + (proj_size > 0))
    # compare with torch's layout (only when the key count allows it: layer numbers
    # come from the file, and a lying one must not make us enumerate a billion layers)
    if len(shape) != layers * per_layer or dict(
            param_layout("RNN_TANH" if kind == "RNN" else kind, **config)) != shape:
        text += "  [keys or shapes differ from torch's layout for this configuration]"
    if kind == "RNN":
        text += "  [nonlinearity, tanh or relu, is not stored in a state dict]"
    return text


def _inspect(args: argparse.Namespace) -> int:
    kind, obj = load_with_format(args.file, mmap=True)
    print(f"file: {args.file}")
    print(f"format: {_FORMAT_NAMES[kind]}")
    if isinstance(obj, StandIn):
        print("contents: a whole pickled module, read as inert stand-ins:")
        for name, module in _named_standins(obj, ""):
            print(f"  {name or '(root)'}: {module.qualname}{_module_config(module)}")
    tensors, others = flatten_tensors(obj)
    total = sum(t.nbytes for t in tensors.values())
    print(f"tensors: {len(tensors)} ({total} bytes)")
    if tensors:
        width = max(len(name) for name in tensors)
        print(f"  {'name':<{width}}  {'shape':<16} {'dtype':<10} {'bytes':>10}")
        for name, t in tensors.items():
            print(f"  {name:<{width}}  {str(tuple(t.shape)):<16} {str(t.dtype):<10} "
                  f"{t.nbytes:>10}")
    if others:
        print(f"other entries: {', '.join(others[:20])}{' ...' if len(others) > 20 else ''}")
    layers = recognise_layers(tensors)
    print("layers:" if layers else "layers: none recognised")
    for prefix, description in layers:
        print(f"  {prefix or '(root)'}: {description}")
    return 0


def _named_standins(module: StandIn, prefix: str) -> list[tuple[str, StandIn]]:
    found = [(prefix, module)]
    children = module.state.get("_modules")
    if isinstance(children, Mapping):
        for name, child in children.items():
            if isinstance(child, StandIn):
                found += _named_standins(child, f"{prefix}.{name}" if prefix else str(name))
    return found


def _module_config(module: StandIn) -> str:
    keys = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
            "bidirectional", "proj_size", "in_features", "out_features", "num_embeddings",
            "embedding_dim")
    config = {k: module.state[k] for k in keys if k in module.state
              and isinstance(module.state[k], (int, float, str, bool))}
    return f"({', '.join(f'{k}={v!r}' for k, v in config.items())})" if config else ""


# --- convert --------------------------------------------------------------------------

def _convert(args: argparse.Namespace) -> int:
    obj = load(args.src)
    target = args.format
    if target is None:
        from .checkpoint import _format_from_name
        target = _format_from_name(args.dst)
    if isinstance(obj, StandIn):
        obj = state_dict_from(obj)
    if target != "torch":
        obj, skipped = flatten_tensors(obj)
        if skipped:
            print(f"note: {len(skipped)} non-tensor entries not converted: "
                  f"{', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}",
                  file=sys.stderr)
    save(obj, args.dst, format=target)
    print(f"wrote {args.dst} ({target})")
    return 0


# --- main -----------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        print(f"numrnn: error: {message} (see numrnn --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="numrnn", description="Run PyTorch-trained RNNs with NumPy alone.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="run the bundled torch-trained SimpleRNN")
    demo.set_defaults(run=_demo)
    inspect = commands.add_parser("inspect", help="format, tensors and layers of a checkpoint")
    inspect.add_argument("file")
    inspect.set_defaults(run=_inspect)
    convert = commands.add_parser("convert", help="convert between checkpoint formats")
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--format", choices=("torch", "safetensors", "npz"),
                         help="output format (default: from the suffix of DST)")
    convert.set_defaults(run=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``numrnn`` command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        return args.run(args)
    except SystemExit as stop:
        return int(stop.code or 0) if isinstance(stop.code, int) else 2
    except KeyboardInterrupt:
        print("numrnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except CheckpointError as error:
        print(f"numrnn: error: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError, MemoryError) as error:
        print(f"numrnn: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # the contract: never a traceback
        print(f"numrnn: internal error: {type(error).__name__}: {_one_line(error)}",
              file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    raise SystemExit(main())
