"""One model, three engines: a torch layer, the same weights in numrnn, the same graph in ORT.

`build(family, cell)` returns zero-argument callables that each run one timed sample of a
grid cell (the whole sequence, or for `stream` `cell.calls` one-step calls with the state
carried), plus each engine's largest difference from torch's outputs and final state.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from _grid import Cell

import numrnn

CLASS_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


class Skip(Exception):
    """The engine cannot run this family (not implemented yet, or not installed)."""


@dataclass
class Peers:
    """Timed callables by engine name, each engine's largest difference from torch, notes."""

    runs: dict[str, Callable[[], object]]
    max_diff: dict[str, float]
    notes: list[str] = field(default_factory=list)


def ort_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def torch_layer(family: str, cell: Cell, seed: int = 0) -> torch.nn.Module:
    """A torch layer of the cell's shape with random, non-zero weights and biases.

    Zero biases would hide a bias that numrnn drops or counts twice, so every parameter is
    drawn from U(-k, k), k = 1/sqrt(H) (torch's own initialisation, made explicit).
    """
    torch.manual_seed(seed)
    layer = getattr(torch.nn, CLASS_NAMES[family])(
        cell.D, cell.H, num_layers=cell.layers, bidirectional=cell.bidirectional
    )
    k = 1 / math.sqrt(cell.H)
    with torch.no_grad():
        for param in layer.parameters():
            param.uniform_(-k, k)
    return layer.eval()


def numrnn_layer(family: str, cell: Cell, source: torch.nn.Module) -> Any:
    """The numrnn layer of the same shape holding `source`'s weights (public API only)."""
    cls = getattr(numrnn, CLASS_NAMES[family], None)
    if cls is None:
        raise Skip(f"numrnn.{CLASS_NAMES[family]} does not exist yet")
    layer = cls(cell.D, cell.H, num_layers=cell.layers, bidirectional=cell.bidirectional)
    layer.load_state_dict({k: v.detach().numpy() for k, v in source.state_dict().items()})
    return layer


def _zero_state(family: str, cell: Cell) -> tuple[np.ndarray, ...]:
    """Initial state(s) (h0[, c0]), each (layers·directions, N, H)."""
    shape = (cell.layers * (2 if cell.bidirectional else 1), cell.N, cell.H)
    count = 2 if family == "lstm" else 1
    return tuple(np.zeros(shape, dtype=np.float32) for _ in range(count))


def _export(source: torch.nn.Module, args: tuple, path: Path, inputs: list[str],
            outputs: list[str]) -> str:
    """Export with torch's TorchScript exporter, else the dynamo one; return which worked.

    The legacy exporter (`dynamo=False`) emits ONNX's fused RNN/LSTM/GRU operators, which
    ORT runs best; the dynamo exporter unrolls RNN-tanh into one MatMul per step, so it is
    only the fallback for a torch that no longer has the legacy path.
    """
    errors = []
    for dynamo in (False, True):
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(source, args, str(path), dynamo=dynamo,
                                  input_names=inputs, output_names=outputs)
        except Exception as exc:  # noqa: BLE001 - try the other exporter
            errors.append(f"dynamo={dynamo}: {exc!r:.150}")
            continue
        return "dynamo" if dynamo else "legacy"
    raise RuntimeError("; ".join(errors))


def _ort_session(family: str, cell: Cell, source: torch.nn.Module, workdir: Path,
                 threads: int) -> tuple[Any, str]:
    """The exported model in an ORT CPU session with equal threads, and the exporter used."""
    import onnxruntime as ort

    state = _zero_state(family, cell)
    names = ["h0", "c0"][: len(state)]
    example_state = tuple(torch.from_numpy(s) for s in state)
    hx = example_state if family == "lstm" else example_state[0]
    x = torch.zeros(cell.T, cell.N, cell.D)
    path = workdir / f"{family}_{cell.name}.onnx"
    exporter = _export(source, (x, hx), path, ["x", *names], ["y", "hn", "cn"][: 1 + len(names)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, exporter


def _max_diff(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(ours, theirs))


def _flatten(family: str, result: Any) -> list[np.ndarray]:
    """(output, h_n) or (output, (h_n, c_n)) from any engine as a flat list of arrays."""
    out, state = result
    states = state if family == "lstm" else (state,)
    return [np.asarray(out), *(np.asarray(s) for s in states)]


def build(family: str, cell: Cell, threads: int, workdir: Path, with_ort: bool) -> Peers:
    """The timed callables of every available engine for one (family, cell)."""
    source = torch_layer(family, cell)
    layer = numrnn_layer(family, cell, source)
    rng = np.random.default_rng(1)
    xs = list(rng.standard_normal((cell.calls, cell.T, cell.N, cell.D), dtype=np.float32))
    xs_torch = [torch.from_numpy(x) for x in xs]
    state = _zero_state(family, cell)
    state_torch = tuple(torch.from_numpy(s) for s in state)
    if family != "lstm":
        state, state_torch = state[0], state_torch[0]
    notes: list[str] = []
    steps: dict[str, Callable[[Any, Any], Any]] = {"numrnn": layer, "torch": source}
    inputs = {"numrnn": (xs, state), "torch": (xs_torch, state_torch)}
    if with_ort:
        try:
            steps["onnxruntime"] = _ort_step(family, cell, source, workdir, threads, notes)
            inputs["onnxruntime"] = (xs, state)
        except Exception as exc:  # noqa: BLE001 - any export failure only drops this peer
            notes.append(f"ORT skipped for {family}/{cell.name}: export failed: {exc!r:.200}")
    runs = {name: _loop(step, *inputs[name]) for name, step in steps.items()}

    # Fast and wrong must be caught: every call's output and the final state, against torch.
    with torch.inference_mode():
        reference = _collect(family, source, xs_torch, state_torch)
        max_diff = {
            name: _max_diff(_collect(family, step, *inputs[name]), reference)
            for name, step in steps.items()
            if name != "torch"
        }
    return Peers(runs, max_diff, notes)


def _loop(step: Callable[[Any, Any], Any], xs: list, state: Any) -> Callable[[], Any]:
    """One timed sample: `out, h = step(x, h)` over the calls, state carried."""

    def run() -> Any:
        h = state
        for x in xs:
            out, h = step(x, h)
        return out, h

    return run


def _ort_step(family: str, cell: Cell, source: torch.nn.Module, workdir: Path, threads: int,
              notes: list[str]) -> Callable[[Any, Any], Any]:
    """`step(x, h) -> (out, h)` on the exported model, called like the torch layer."""
    session, exporter = _ort_session(family, cell, source, workdir, threads)
    if exporter != "legacy":
        notes.append(f"ORT {family}/{cell.name}: exported with the {exporter} exporter")
    run = session.run
    if family == "lstm":

        def step(x: np.ndarray, hx: tuple[np.ndarray, np.ndarray]) -> Any:
            out, h, c = run(None, {"x": x, "h0": hx[0], "c0": hx[1]})
            return out, (h, c)

    else:

        def step(x: np.ndarray, h: np.ndarray) -> Any:
            out, h = run(None, {"x": x, "h0": h})
            return out, h

    return step


def _collect(family: str, engine: Any, xs: list, state: Any) -> list[np.ndarray]:
    """Outputs of every call, then the final state(s), as NumPy arrays."""
    outs = []
    h = state
    for x in xs:
        out, h = engine(x, h)
        outs.append(np.asarray(out))
    return [np.concatenate(outs), *_flatten(family, (out, h))[1:]]


def scratch_dir() -> tempfile.TemporaryDirectory:
    """A temporary directory for exported models."""
    return tempfile.TemporaryDirectory(prefix="numrnn-bench-")
