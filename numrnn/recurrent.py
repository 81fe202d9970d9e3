"""RNN, LSTM and GRU layers and their cells: parameter layout, validation, dispatch.

The maths lives in ``kernels``; this file owns torch's parameter layout (one
generator, ``param_layout``, used to build layers and to check imports), input
checking, and the loop over layers, directions and chunks of time steps.
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from typing import Any, Iterator

import numpy as np

from . import _random, _workspace, kernels
from ._arrays import as_float_array, check_dtype, check_int, describe
from .module import Module
from .packing import PackedSequence, _as_packed

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "param_layout"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}

# Bytes of projected input computed at once: long sequences are projected chunk by
# chunk, so memory stays bounded whatever T is.
_CHUNK_BYTES = 8 << 20


def param_layout(
    mode: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Torch's parameter names and shapes, in torch's registration order.

    >>> list(param_layout("GRU", 3, 5))[:2]
    [('weight_ih_l0', (15, 3)), ('weight_hh_l0', (15, 5))]
    """
    gate_size = _GATES[mode] * hidden_size
    real_hidden = proj_size if proj_size > 0 else hidden_size
    for layer in range(num_layers):
        for suffix in ("", "_reverse")[: 2 if bidirectional else 1]:
            layer_input = input_size if layer == 0 else real_hidden * (2 if bidirectional else 1)
            yield f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)
            yield f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)
            if bias:
                yield f"bias_ih_l{layer}{suffix}", (gate_size,)
                yield f"bias_hh_l{layer}{suffix}", (gate_size,)
            if proj_size > 0:
                yield f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)


def _prepare(mode: str, p: dict[str, np.ndarray | None], sfx: str) -> Any:
    w_ih, w_hh = p[f"weight_ih{sfx}"], p[f"weight_hh{sfx}"]
    b_ih, b_hh = p.get(f"bias_ih{sfx}"), p.get(f"bias_hh{sfx}")
    if mode == "LSTM":
        return kernels.prepare_lstm(w_ih, w_hh, b_ih, b_hh, p.get(f"weight_hr{sfx}"))
    if mode == "GRU":
        return kernels.prepare_gru(w_ih, w_hh, b_ih, b_hh)
    return kernels.prepare_rnn(w_ih, w_hh, b_ih, b_hh, relu=mode == "RNN_RELU")


def _scan(mode: str, steps: Any, w: Any, h0: np.ndarray, c0: np.ndarray | None, layout: str, empty):
    # NaN and inf propagate silently, as in torch (steps project lazily, so this covers it too).
    with np.errstate(invalid="ignore", over="ignore"):
        if mode == "LSTM":
            return kernels.lstm_scan(steps, w, h0, c0, layout, empty)
        if mode == "GRU":
            return kernels.gru_scan(steps, w, h0, layout, empty), None
        return kernels.rnn_scan(steps, w, h0, layout, empty), None


def _chunks(T: int, step_bytes: int, reverse: bool) -> list[tuple[int, int]]:
    size = max(1, _CHUNK_BYTES // max(step_bytes, 1))
    spans = [(t, min(t + size, T)) for t in range(0, T, size)]
    return spans[::-1] if reverse else spans


def _run_padded(mode, w, x, out, h0, c0, reverse, ws):
    """One direction of one layer over a padded batch: x [T, N, D] -> out [T, N, P] (in place).

    ``out`` may be strided (one direction's half of a bidirectional output). Work buffers
    come from the workspace ``ws``, reset here: nothing of a previous run survives.
    """
    ws.reset()
    empty = ws.empty
    T, N, _ = x.shape
    layout = kernels.choose_layout(w, N)
    if layout in (kernels.FUSED, kernels.FUSED_FEATURES):
        features = layout == kernels.FUSED_FEATURES
        steps, slots = kernels.fused_steps(x, h0, reverse, features, empty)
        state = _scan(mode, steps, w, h0, c0, layout, empty)
        slots = slots[::-1] if reverse else slots
        out[...] = slots.transpose(0, 2, 1) if features else slots
        return state
    G = w.w_in.shape[1]
    fm = layout == kernels.FEATURES
    spans = _chunks(T, N * G * x.itemsize, reverse)
    longest = max(t1 - t0 for t0, t1 in spans)
    xp_buf = empty((longest, G, N) if fm else (longest, N, G), x.dtype)
    # Room for a chunk's input with the column of ones, one buffer for every chunk.
    Din = w.w_in.shape[0]  # D + 1 with the bias row, else D
    x_buf = None
    if fm or Din != x.shape[-1]:
        x_buf = empty((longest, Din, N) if fm else (longest, N, Din), x.dtype)
    # Steps write whole contiguous slots (the kernels use np.dot into them). FEATURES steps
    # write [P, N] blocks of a feature-major chunk buffer, copied to the output once per
    # chunk: measured 3-4x cheaper than writing each step through a transposed view at
    # H = 1024. ROWS steps write to the output itself, or to a chunk buffer when the output
    # is strided (a bidirectional half). A one-step chunk's slot is also the state it reads:
    # every kernel reads h before writing its output slot (np.dot itself accepts an ``out``
    # that overlaps its inputs).
    P = out.shape[-1]
    o_buf = None
    if fm:
        o_buf = empty((longest, P, N), x.dtype)
    elif not out.flags.c_contiguous:
        o_buf = empty((longest, N, P), x.dtype)
    pending: list[tuple[np.ndarray, np.ndarray]] = []

    def flush():  # the finished chunk's buffered output to out
        while pending:
            dst, src = pending.pop()
            dst[...] = src.transpose(0, 2, 1) if fm else src

    def chunks():  # projects each chunk when the scan reaches it
        for t0, t1 in spans:
            flush()
            if fm:  # steps see [G·H, N] input blocks and [P, N] output blocks
                xp = kernels.project_features(x[t0:t1], w.w_in_fm, xp_buf[: t1 - t0], x_buf)
                ot = o_buf[: t1 - t0]
                pending.append((out[t0:t1], ot))
                parts = (*kernels.split_input(w, xp, axis=1), ot)
            else:
                xp = kernels.project(x[t0:t1], w.w_in, xp_buf[: t1 - t0], x_buf)
                ot = out[t0:t1]
                if o_buf is not None:
                    ot = o_buf[: t1 - t0]
                    pending.append((out[t0:t1], ot))
                parts = (*kernels.split_input(w, xp), ot)
            if reverse:
                parts = tuple(p[::-1] for p in parts)
            yield zip(*parts)

    # chain and zip iterate in C: no Python frame per step
    state = _scan(mode, itertools.chain.from_iterable(chunks()), w, h0, c0, layout, empty)
    flush()
    return state


def _run_packed(mode, w, data, out, offsets, h0, c0, reverse, ws):
    """One direction of one layer over packed data [rows, D] -> out [rows, P] (in place).

    ``out`` may be strided (a bidirectional half): the steps then write a contiguous buffer,
    copied to it at the end.
    """
    ws.reset()
    T = len(offsets) - 1
    G = w.w_in.shape[1]
    xp = ws.empty((data.shape[0], G), data.dtype)
    Din = w.w_in.shape[0]  # D + 1 with the bias row, else D (no [x, 1] copy needed)
    x_buf = ws.empty((1, data.shape[0], Din), data.dtype) if Din != data.shape[1] else None
    kernels.project(data[None], w.w_in, xp[None], x_buf)
    target = out if out.flags.c_contiguous else ws.empty(out.shape, out.dtype)
    parts = (*kernels.split_input(w, xp), target)
    order = range(T - 1, -1, -1) if reverse else range(T)
    steps = (tuple(p[offsets[t] : offsets[t + 1]] for p in parts) for t in order)
    state = _scan(mode, steps, w, h0, c0, kernels.ROWS, ws.empty)
    if target is not out:
        out[...] = target
    return state


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (``torch.nn.RNNBase``)."""

    _name = "RNNBase"

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        input_size = check_int(input_size, "input_size", 1)
        hidden_size = check_int(hidden_size, "hidden_size", 1)
        num_layers = check_int(num_layers, "num_layers", 1)
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)):
            raise TypeError(f"proj_size should be of type int, got {type(proj_size).__name__}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Number)
            or not 0 <= dropout <= 1  # type: ignore[operator]
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability "
                f"of an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        if proj_size < 0:
            raise ValueError(
                f"proj_size should be a positive integer or zero to disable projections, got {proj_size}"
            )
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                f"and hidden_size={hidden_size}"
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)  # type: ignore[arg-type]
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        self.dtype = check_dtype(dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in param_layout(
            mode, input_size, hidden_size, num_layers, self.bias, self.bidirectional, proj_size
        ):
            self.register_parameter(name, _random.uniform(bound, shape, self.dtype))

    # -- derived -----------------------------------------------------------------
    @property
    def _num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self) -> int:
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _weights(self) -> list[list[Any]]:
        """Kernel weights ``[layer][direction]``, built once per parameter change."""

        def build() -> list[list[Any]]:
            p = self._parameters
            return [
                [
                    _prepare(self.mode, p, f"_l{k}{sfx}")
                    for sfx in ("", "_reverse")[: self._num_directions]
                ]
                for k in range(self.num_layers)
            ]

        return self._derived(build)

    # -- checking ----------------------------------------------------------------
    def _state(
        self, value: Any, name: str, expected: tuple[int, ...], unbatched: bool
    ) -> np.ndarray:
        if value is None:
            return np.zeros(expected, dtype=self.dtype)
        arr = as_float_array(value, self.dtype, name)
        want = 2 if unbatched else 3
        if arr.ndim != want:
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            raise ValueError(
                f"{self._name}: for {kind} input, {name} should also be {want}-D, got {describe(arr)}"
            )
        if arr.shape != expected:
            raise ValueError(
                f"{self._name}: expected {name} of shape {expected}, got {tuple(arr.shape)}"
            )
        return arr

    def _initial_states(
        self, hx: Any, batch: int, unbatched: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(h0, c0)`` as ``[L·dirs, N, P]`` / ``[L·dirs, N, H]`` arrays (zeros when omitted)."""
        lead = (self.num_layers * self._num_directions,)
        mid = () if unbatched else (batch,)
        h_shape = lead + mid + (self._out_size,)
        if self.mode == "LSTM":
            c_shape = lead + mid + (self.hidden_size,)
            if hx is None:
                h0, c0 = None, None
            elif isinstance(hx, (tuple, list)) and len(hx) == 2:
                h0, c0 = hx
            else:
                raise TypeError(
                    f"LSTM: hx must be a tuple (h_0, c_0) of two arrays, got {type(hx).__name__}"
                    + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else "")
                )
            h = self._state(h0, "h_0 (hx[0])", h_shape, unbatched)
            c = self._state(c0, "c_0 (hx[1])", c_shape, unbatched)
        else:
            h, c = self._state(hx, "hx", h_shape, unbatched), None
        if unbatched:
            h = h[:, None]
            c = None if c is None else c[:, None]
        return h, c

    # -- running -----------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """Run the layer: see the class docstring for shapes."""
        packed = _as_packed(input)  # numrnn's PackedSequence, or torch's by its fields
        if packed is not None:
            return self._forward_packed(packed, hx)
        x = as_float_array(input, self.dtype, "input")
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._name}: Expected input to be 2-D or 3-D, got {x.ndim}-D input")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._name}: input.shape[-1] must be equal to input_size. "
                f"Expected {self.input_size}, got {x.shape[-1]}"
            )
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None]  # [T, 1, D]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)  # [T, N, D] view; chunks are made contiguous when projected
        T, N, _ = x.shape
        if T == 0:
            raise ValueError(
                f"{self._name}: input has a sequence length of 0; at least 1 step is needed"
            )
        h0, c0 = self._initial_states(hx, N, unbatched)
        width = self._num_directions * self._out_size
        out, h_n, c_n = self._run_layers(
            x, h0, c0, lambda: np.empty((T, N, width), self.dtype), _run_padded
        )
        if unbatched:
            out, h_n = out[:, 0], h_n[:, 0]
            c_n = None if c_n is None else c_n[:, 0]
        elif self.batch_first:
            out = out.transpose(1, 0, 2)  # [N, T, dirs·P], a view as in torch
        return out, (h_n if c_n is None else (h_n, c_n))

    def _run_layers(self, x, h0, c0, new_out, run, *extra):
        """Every layer and direction; ``run`` is ``_run_padded`` or ``_run_packed``."""
        dirs = self._num_directions
        h_n = np.empty_like(h0)
        c_n = None if c0 is None else np.empty_like(c0)
        P = self._out_size
        with _workspace.borrow() as ws:  # work buffers kept between calls
            for k, layer in enumerate(self._weights()):
                # Each direction writes its half of the layer's output [..., dirs·P] itself
                # (a strided view when bidirectional): no per-direction outputs to join.
                out = new_out()
                for d, w in enumerate(layer):
                    i = k * dirs + d
                    c0_i = None if c0 is None else c0[i]
                    half = out[..., d * P : (d + 1) * P]
                    h, c = run(self.mode, w, x, half, *extra, h0[i], c0_i, d == 1, ws)
                    h_n[i] = h
                    if c is not None:
                        c_n[i] = c
                x = out
        return x, h_n, c_n

    def _forward_packed(self, seq: PackedSequence, hx: Any) -> tuple[PackedSequence, Any]:
        data = as_float_array(seq.data, self.dtype, "input.data")
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ValueError(
                f"{self._name}: packed data must be of shape (rows, {self.input_size}), "
                f"got {tuple(data.shape)}"
            )
        batch_sizes = np.asarray(seq.batch_sizes, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(batch_sizes)]).tolist()
        if offsets[-1] != data.shape[0]:
            raise ValueError(
                f"{self._name}: batch_sizes sum to {offsets[-1]} rows but data has {data.shape[0]}"
            )
        N = int(batch_sizes[0])
        h0, c0 = self._initial_states(hx, N, False)
        sorted_idx = None if seq.sorted_indices is None else np.asarray(seq.sorted_indices)
        if sorted_idx is not None and hx is not None:  # states follow the sort of the batch
            h0 = h0[:, sorted_idx]
            c0 = None if c0 is None else c0[:, sorted_idx]
        rows = data.shape[0]
        out, h_n, c_n = self._run_layers(
            data,
            h0,
            c0,
            lambda: np.empty((rows, self._num_directions * self._out_size), dtype=self.dtype),
            _run_packed,
            offsets,
        )
        unsorted = None if seq.unsorted_indices is None else np.asarray(seq.unsorted_indices)
        if unsorted is not None:
            h_n = h_n[:, unsorted]
            c_n = None if c_n is None else c_n[:, unsorted]
        packed = PackedSequence(out, seq.batch_sizes, seq.sorted_indices, seq.unsorted_indices)
        return packed, (h_n if c_n is None else (h_n, c_n))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


_SHAPES_DOC = """
    Shapes (T time steps, N batch, D ``input_size``, H ``hidden_size``, P ``proj_size``
    or H, dirs 2 if bidirectional else 1, L ``num_layers``):

    - ``input``: ``[T, N, D]``, ``[N, T, D]`` with ``batch_first=True``, ``[T, D]``
      unbatched, or a ``PackedSequence``.
    - ``output``: ``[T, N, dirs·P]`` (``[N, T, dirs·P]`` batch first, ``[T, dirs·P]``
      unbatched; a ``PackedSequence`` for packed input); the reverse direction's
      outputs are in forward time order, as torch's.
    - ``h_n``: ``[L·dirs, N, P]`` (``[L·dirs, P]`` unbatched); index ``layer·dirs + direction``.
"""


class RNN(RNNBase):
    __doc__ = (  # a docstring built from parts: the shapes are shared
        """Elman RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` — ``torch.nn.RNN``.

    ``act`` is ``tanh`` or ``relu`` (``nonlinearity``). Call ``rnn(input, hx=None)``
    → ``(output, h_n)``; ``hx`` is ``[L·dirs, N, H]`` (zeros when omitted).
    Parameters: ``weight_ih_l{k}{_reverse}`` ``[H, D or dirs·H]``,
    ``weight_hh_l{k}{_reverse}`` ``[H, H]``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``[H]``.
    """
        + _SHAPES_DOC
        + """
    >>> import numrnn as nn
    >>> rnn = nn.RNN(3, 5, batch_first=True)
    >>> out, h_n = rnn(np.zeros((2, 10, 3), np.float32))
    >>> out.shape, h_n.shape
    ((2, 10, 5), (1, 2, 5))
    """
    )

    _name = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = np.float32,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    __doc__ = (  # a docstring built from parts: the shapes are shared
        """Long short-term memory — ``torch.nn.LSTM``.

    Gates in torch's order ``i|f|g|o``::

        i, f, g, o = σ(·), σ(·), tanh(·), σ(·) of  x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = f ⊙ c_{t-1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)   (then h_t W_hr^T with proj_size)

    Call ``lstm(input, hx=None)`` → ``(output, (h_n, c_n))``; ``hx = (h_0, c_0)`` with
    ``h_0`` ``[L·dirs, N, P]`` and ``c_0`` ``[L·dirs, N, H]``. Parameters as RNN with
    4H rows, plus ``weight_hr_l{k}{_reverse}`` ``[P, H]`` when ``proj_size > 0``.
    """
        + _SHAPES_DOC
        + """
    - ``c_n``: ``[L·dirs, N, H]`` (``[L·dirs, H]`` unbatched).
    """
    )

    _name = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            dtype,
        )


class GRU(RNNBase):
    __doc__ = (  # a docstring built from parts: the shapes are shared
        """Gated recurrent unit — ``torch.nn.GRU``.

    Gates in torch's order ``r|z|n``::

        r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr);  z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn));  h' = (1 − z) ⊙ n + z ⊙ h

    Call ``gru(input, hx=None)`` → ``(output, h_n)``. Parameters as RNN with 3H rows.
    """
        + _SHAPES_DOC
    )

    _name = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            dtype,
        )


class _CellBase(Module):
    """One time step of a recurrent layer (``torch.nn.RNNCellBase``)."""

    _name = "RNNCellBase"
    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        input_size = check_int(input_size, "input_size", 1)
        hidden_size = check_int(hidden_size, "hidden_size", 1)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bool(bias)
        self.dtype = check_dtype(dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in param_layout(self._mode, input_size, hidden_size, 1, self.bias):
            self.register_parameter(name[:-3], _random.uniform(bound, shape, self.dtype))

    def _step(self, x: Any, hx: Any, n_states: int) -> tuple[np.ndarray, ...]:
        x = as_float_array(x, self.dtype, "input")
        if x.ndim not in (1, 2):
            raise ValueError(f"{self._name}: Expected input to be 1-D or 2-D, got {x.ndim}-D input")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._name}: input.shape[-1] must be equal to input_size. "
                f"Expected {self.input_size}, got {x.shape[-1]}"
            )
        unbatched = x.ndim == 1
        x = x.reshape(1, -1, self.input_size)  # [1, N, D]
        N = x.shape[1]
        shape = (self.hidden_size,) if unbatched else (N, self.hidden_size)
        names = ["hx"] if n_states == 1 else ["h_0 (hx[0])", "c_0 (hx[1])"]
        if hx is None:
            states = [None] * n_states
        elif n_states == 1:
            states = [hx]
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            states = list(hx)
        else:
            raise TypeError(f"{self._name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        arrays = []
        for value, name in zip(states, names):
            if value is None:
                arrays.append(np.zeros((N, self.hidden_size), dtype=self.dtype))
                continue
            arr = as_float_array(value, self.dtype, name)
            if arr.shape != shape:
                raise ValueError(
                    f"{self._name}: expected {name} of shape {shape}, got {tuple(arr.shape)}"
                )
            arrays.append(arr.reshape(N, self.hidden_size))
        w = self._derived(lambda: _prepare(self._mode, self._parameters, ""))
        out = np.empty((1, N, self.hidden_size), dtype=self.dtype)
        with _workspace.borrow() as ws:
            h, c = _run_padded(
                self._mode, w, x, out, arrays[0], arrays[1] if n_states == 2 else None, False, ws
            )
        result = (h,) if c is None else (h, c)
        return tuple(r[0] for r in result) if unbatched else result

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"  # unquoted, as torch prints it
        return s


class RNNCell(_CellBase):
    """One Elman step, ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` — ``torch.nn.RNNCell``.

    ``cell(x, hx=None)``: ``x`` ``[N, D]`` or ``[D]``, ``hx`` ``[N, H]`` or ``[H]`` → ``h'``.
    Parameters ``weight_ih`` ``[H, D]``, ``weight_hh`` ``[H, H]``, ``bias_ih``, ``bias_hh`` ``[H]``.
    """

    _name = "RNNCell"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = np.float32,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        object.__setattr__(self, "_mode", "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        object.__setattr__(self, "nonlinearity", nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> np.ndarray:
        return self._step(input, hx, 1)[0]


class LSTMCell(_CellBase):
    """One LSTM step — ``torch.nn.LSTMCell``.

    ``cell(x, hx=None)`` with ``hx = (h, c)``, each ``[N, H]`` (``[H]`` unbatched) →
    ``(h', c')``. Parameters ``weight_ih`` ``[4H, D]``, ``weight_hh`` ``[4H, H]``,
    ``bias_ih``, ``bias_hh`` ``[4H]``, gates ``i|f|g|o``.
    """

    _name = "LSTMCell"
    _mode = "LSTM"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[np.ndarray, np.ndarray]:
        h, c = self._step(input, hx, 2)
        return h, c


class GRUCell(_CellBase):
    """One GRU step — ``torch.nn.GRUCell``.

    ``cell(x, hx=None)``: ``x`` ``[N, D]`` or ``[D]`` → ``h'``. Parameters ``weight_ih``
    ``[3H, D]``, ``weight_hh`` ``[3H, H]``, ``bias_ih``, ``bias_hh`` ``[3H]``, gates ``r|z|n``.
    """

    _name = "GRUCell"
    _mode = "GRU"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input: Any, hx: Any = None) -> np.ndarray:
        return self._step(input, hx, 1)[0]
