"""The maths: pure functions on arrays, one recurrence step at a time.

Symbols: T time steps, N batch, D input features, H hidden units, P projection
size (LSTM ``proj_size``; P = H without projection), G gate blocks (1 RNN, 3 GRU,
4 LSTM). Torch's equations, with its letters::

    RNN   h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
    LSTM  i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)
          c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);   h' = (σ(o) ⊙ tanh(c')) W_hr^T
    GRU   r, z = σ(x W_ir^T + b_ir + h W_hr^T + b_hr), σ(... z ...)
          n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn));   h' = n + z ⊙ (h − n)

Every layer runs in two phases. ``prepare_*`` turns torch-layout parameters into
kernel weights once per parameter change (``_derive``): the input weights with the
fused bias as one more row, the recurrent weights in both orientations, and for
small layers the fused ``[W_ih^T; b; W_hh^T]``; for LSTM/GRU the sigmoid gates are
scaled by ½ so that one ``tanh`` serves every gate (σ(a) = ½·tanh(a/2) + ½, which
also never overflows), and the LSTM gates are reordered to ``i|f|o|g`` so the sigmoid
gates form one block. Then ``project`` / ``project_features`` compute the input part
of every step as one matrix product per chunk of time steps, and ``*_scan`` runs the
recurrence in place, step by step, into preallocated buffers, in one of the layouts
listed above ``choose_layout``.

A scan takes ``steps``: an iterable of ``(xt, ot)`` pairs (GRU: ``(x_rz, x_n, ot)``),
the projected input of one step ``(n, G·H)`` and the output slot it writes ``(n, P)``
(transposed in the feature-major layouts). ``n`` may shrink (packed sequences,
forward) or grow (packed, reverse) from step to step; rows leave and join the state
``S`` ``(N, P)`` then, which is why finished sequences keep their last state and new
ones start from their initial state. The scan returns the final state of every row.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np

__all__ = [
    "RNNWeights",
    "LSTMWeights",
    "GRUWeights",
    "prepare_rnn",
    "prepare_lstm",
    "prepare_gru",
    "project",
    "project_features",
    "split_input",
    "fused_steps",
    "FUSE_BYTES",
    "FUSED_ROW_BYTES",
    "FUSED_FEATURES_BYTES",
    "ROWS",
    "FEATURES",
    "FUSED",
    "FUSED_FEATURES",
    "choose_layout",
    "rnn_scan",
    "lstm_scan",
    "gru_scan",
]

Steps = Iterable[tuple[np.ndarray, np.ndarray]]
# Where work buffers come from: ``np.empty``, or a ``_workspace.Workspace``'s ``empty``
# (buffers kept between calls); every function that allocates takes one as ``empty``.
Empty = Callable[[tuple, np.dtype], np.ndarray]


class RNNWeights(NamedTuple):
    w_in: np.ndarray  # [D+1, H]  [W_ih^T; b_ih + b_hh] (no bias row without bias): the projection
    w_in_fm: np.ndarray  # [H, D+1]  its transpose, for the FEATURES layout
    w_hh_t: np.ndarray  # [H, H]  W_hh^T, for the ROWS layout
    w_hh: np.ndarray  # [H, H]  W_hh, for the FEATURES layout
    w_aug: np.ndarray | None  # [D+1+H, H]  [W_ih^T; b; W_hh^T], for the one-row FUSED path
    w_aug_fm: np.ndarray | None  # [H, D+1+H]  its transpose, for FUSED_FEATURES
    relu: bool


class LSTMWeights(NamedTuple):
    w_in: np.ndarray  # [D+1, 4H]  gates i|f|o|g, i f o scaled by ½
    w_in_fm: np.ndarray  # [4H, D+1]
    w_hh_t: np.ndarray  # [P, 4H]
    w_hh: np.ndarray  # [4H, P]
    w_aug: np.ndarray | None  # [D+1+P, 4H]
    w_aug_fm: np.ndarray | None  # [4H, D+1+P]
    w_hr_t: np.ndarray | None  # [H, P]


class GRUWeights(NamedTuple):
    w_in: np.ndarray  # [D+1, 3H]  gates r|z|n, r z scaled by ½; bias (b_ir + b_hr)/2 | (b_iz + b_hz)/2 | b_in
    w_in_fm: np.ndarray  # [3H, D+1]
    w_hh_t: np.ndarray  # [H, 3H]
    w_hh: np.ndarray  # [3H, H]
    w_aug: np.ndarray | None  # [D+1+H, 4H]  columns r|z (input and hidden) | n input | n hidden
    w_aug_fm: np.ndarray | None  # [4H, D+1+H]
    b_hn: np.ndarray | None  # [H]


# The fused paths (one product per step of [x_t, 1, h] with [W_ih^T; b; W_hh^T], no
# separate input add) pay off while that matrix is small; bigger layers are better
# served by one large GEMM for the input part. Limits on its size, measured with
# benchmarks/ at 2 threads: the one-row FUSED path up to 256 KiB (beyond it 1.0-1.4x
# slower than ROWS); FUSED_FEATURES 10-17 % faster than FEATURES for LSTMs up to 2 MiB,
# for GRUs up to 512 KiB (slower beyond). Fused weights are derived up to FUSE_BYTES.
FUSE_BYTES = 2 << 20
FUSED_ROW_BYTES = 256 << 10
FUSED_FEATURES_BYTES = {"LSTMWeights": 2 << 20, "GRUWeights": 512 << 10}


def _fits_fused(rows: int, cols: int, itemsize: int) -> bool:
    return rows * cols * itemsize <= FUSE_BYTES


def _derive(w_ih_g: np.ndarray, w_hh_g: np.ndarray, b: np.ndarray | None) -> tuple:
    """``(w_in, w_in_fm, w_hh_t, w_hh, w_aug, w_aug_fm)`` from gate-prepared [G, D], [G, P], [G].

    The bias rides in the projection's GEMM as one more input row (the input gets a
    column of ones): cheaper than a separate pass over the G-wide result.
    """
    w_in = w_ih_g.T if b is None else np.concatenate([w_ih_g.T, b[None]])
    w_in = np.ascontiguousarray(w_in)
    w_hh_t = np.ascontiguousarray(w_hh_g.T)
    w_aug = None
    if _fits_fused(w_ih_g.shape[1] + 1 + w_hh_g.shape[1], w_ih_g.shape[0], w_ih_g.itemsize):
        bias = b[None] if b is not None else np.zeros((1, w_ih_g.shape[0]), w_ih_g.dtype)
        w_aug = np.concatenate([w_ih_g.T, bias, w_hh_t])
    return w_in, np.ascontiguousarray(w_in.T), w_hh_t, np.ascontiguousarray(w_hh_g), w_aug, _t(w_aug)


def _t(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.ascontiguousarray(a.T)


def _fused_bias(b_ih: np.ndarray | None, b_hh: np.ndarray | None) -> np.ndarray | None:
    return None if b_ih is None else b_ih + b_hh


def prepare_rnn(w_ih, w_hh, b_ih=None, b_hh=None, relu=False) -> RNNWeights:
    """Kernel weights of an Elman RNN layer from torch's ``weight_ih`` [H, D] etc."""
    return RNNWeights(*_derive(w_ih, w_hh, _fused_bias(b_ih, b_hh)), relu)


def _lstm_gates(a: np.ndarray) -> np.ndarray:
    # torch's i|f|g|o blocks along axis 0 -> i|f|o|g, with σ-gates scaled by ½.
    i, f, g, o = np.split(a, 4, axis=0)
    return np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, g], axis=0)


def prepare_lstm(w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None) -> LSTMWeights:
    """Kernel weights of an LSTM layer from torch's ``weight_ih`` [4H, D], ``weight_hh`` [4H, P]..."""
    b = _fused_bias(b_ih, b_hh)
    w_hr_t = None if w_hr is None else np.ascontiguousarray(w_hr.T)
    return LSTMWeights(
        *_derive(_lstm_gates(w_ih), _lstm_gates(w_hh), None if b is None else _lstm_gates(b)), w_hr_t
    )


def prepare_gru(w_ih, w_hh, b_ih=None, b_hh=None) -> GRUWeights:
    """Kernel weights of a GRU layer from torch's ``weight_ih`` [3H, D], ``weight_hh`` [3H, H]..."""
    H = w_hh.shape[1]
    scale = np.ones((3 * H, 1), dtype=w_ih.dtype)
    scale[: 2 * H] = 0.5
    b = b_hn = None
    if b_ih is not None:
        # b_hr and b_hz sit outside the reset product, so they fold into the input bias;
        # b_hn is multiplied by r and must stay with the recurrent product.
        b = b_ih.copy()
        b[: 2 * H] += b_hh[: 2 * H]
        b *= scale[:, 0]
        b_hn = b_hh[2 * H :].copy()
    w_in, w_in_fm, w_hh_t, w_hh_fm, _, _ = _derive(w_ih * scale, w_hh * scale, b)
    # Fused: the n gate's input and hidden parts get their own columns (r multiplies only
    # the hidden part): [D+1+H, 4H] = [[W_i,rz  W_in  0], [b_rz  b_in  b_hn], [W_h,rz  0  W_hn]].
    w_aug = None
    D, dt = w_ih.shape[1], w_ih.dtype
    if _fits_fused(D + 1 + H, 4 * H, w_ih.itemsize):
        w_aug = np.zeros((D + 1 + H, 4 * H), dt)
        w_aug[:D, : 3 * H] = w_in[:D]
        if b is not None:
            w_aug[D, : 3 * H] = b
            w_aug[D, 3 * H :] = b_hn
        w_aug[D + 1 :, : 2 * H] = w_hh_t[:, : 2 * H]
        w_aug[D + 1 :, 3 * H :] = w_hh_t[:, 2 * H :]
    return GRUWeights(w_in, w_in_fm, w_hh_t, w_hh_fm, w_aug, _t(w_aug), b_hn)


def project(
    x: np.ndarray, w_in: np.ndarray, out: np.ndarray, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Input part of a chunk of steps, ``out = [x, 1] [W_ih^T; b]``: [c, N, D] -> [c, N, G·H].

    ``scratch``: room for ``[x, 1]`` ([c', N, D+1], c' >= c), reused from chunk to chunk.
    """
    c, n, d = x.shape
    if w_in.shape[0] == d + 1:  # with a bias: append the column of ones
        x2 = np.empty((c, n, d + 1), x.dtype) if scratch is None else scratch[:c]
        x2[..., :d] = x
        x2[..., d] = 1
    else:
        x2 = np.ascontiguousarray(x)
    np.matmul(x2.reshape(c * n, -1), w_in, out=out.reshape(c * n, out.shape[-1]))  # one GEMM
    return out


def project_features(
    x: np.ndarray, w_in_fm: np.ndarray, out: np.ndarray, scratch: np.ndarray | None = None
) -> np.ndarray:
    """``project`` for the FEATURES layout: [c, N, D] -> [c, G·H, N], each step contiguous.

    One batched product ``[W_ih b] [x_t; 1]^T`` per chunk: each step's input part is then
    read as a contiguous block, where a transposed view of ``project``'s result would be
    read with a stride of G·H per element (measured 4-10x slower per step at N >= 16).
    ``scratch``: room for ``[x; 1]^T`` ([c', D+1, N], c' >= c), reused from chunk to chunk.
    """
    c, n, d = x.shape
    xt = np.empty((c, w_in_fm.shape[1], n), x.dtype) if scratch is None else scratch[:c]  # [c, D(+1), N]
    xt[:, :d] = x.transpose(0, 2, 1)
    if w_in_fm.shape[1] == d + 1:
        xt[:, d] = 1
    np.matmul(w_in_fm, xt, out=out)  # [G·H, D+1] @ [c, D+1, N] -> [c, G·H, N]
    return out


def fused_steps(
    x: np.ndarray, h0: np.ndarray, reverse: bool, features: bool = False, empty: Empty = np.empty
) -> tuple[Iterator[tuple], np.ndarray]:
    """Steps of the fused paths: ``(src_t, h_t)`` with ``src_t = [x_t, 1, h_{t-1}]``.

    ``x`` [T, N, D], ``h0`` [N, P]. Each step's ``h_t`` slot is the ``h`` part of the
    next ``src``, so the state moves with no copy. ``src_t`` is [N, D+1+P] (FUSED, one
    row), or [D+1+P, N] with ``features`` (FUSED_FEATURES). Returns the steps and the
    slots ([T, N, P], or [T, P, N] with ``features``) in the order the steps ran
    (reversed time for ``reverse``): the caller copies them to the output.
    """
    T, N, D = x.shape
    P = h0.shape[-1]
    x = x[::-1] if reverse else x
    if features:
        src = empty((T + 1, D + 1 + P, N), x.dtype)  # [x_t; 1; h_{t-1}] per step
        src[:T, :D] = x.transpose(0, 2, 1)
        src[:, D] = 1
        src[0, D + 1 :] = h0.T
        slots = src[1:, D + 1 :]
    else:
        src = empty((T + 1, N, D + 1 + P), x.dtype)  # [x_t, 1, h_{t-1}] per step
        src[:T, :, :D] = x
        src[:, :, D] = 1
        src[0, :, D + 1 :] = h0
        slots = src[1:, :, D + 1 :]
    return zip(src[:T], slots), slots


def split_input(
    w: RNNWeights | LSTMWeights | GRUWeights, xp: np.ndarray, axis: int = -1
) -> tuple[np.ndarray, ...]:
    """The projected input as the scan reads it: GRU's r|z and n parts apart (2H and H along ``axis``).

    Split once per chunk, so no step slices its input.
    """
    if isinstance(w, GRUWeights):
        H2 = w.w_hh.shape[0] * 2 // 3
        return tuple(np.split(xp, [H2], axis=axis))
    return (xp,)


# Layouts a scan can run in:
#   ROWS      state [N, P], gates [N, G·H]: h W_hh^T per step (packed batches too);
#   FEATURES  state [P, N], gates [G·H, N]: W_hh h^T per step. Every gate block is then a
#             contiguous row block, and BLAS splits the long weight dimension across
#             threads: the faster product for batches of several rows and wide layers;
#   FUSED     one row, small layer: steps are ``(src_t, ot)`` from ``fused_steps`` and one
#             product with ``w_aug`` covers input, bias and recurrence.
#   FUSED_FEATURES  FEATURES with the FUSED product (``w_aug_fm @ src_t``): small gated
#             layers over several rows, where a step is many small calls and saving the
#             input add and the projection GEMM is worth ~20 %.
# In FEATURES, steps pass ``xt`` and ``ot`` as [G·H, N] and [P, N], ``ot`` contiguous (the
# caller transposes a chunk of outputs at once).
# ufunc and np.dot outputs are passed positionally: measurably cheaper than out= on the
# tiny operands where per-call overhead is the whole cost.
ROWS, FEATURES, FUSED, FUSED_FEATURES = "rows", "features", "fused", "fused-features"


def choose_layout(w: RNNWeights | LSTMWeights | GRUWeights, batch: int) -> str:
    """The layout a padded batch of ``batch`` rows runs in.

    Measured (benchmarks/, 2 threads): gated layers are faster in FEATURES from two rows
    on (contiguous gate blocks: 1.0-1.9x at N = 2..64, H = 16..512), and small ones
    faster still fused (1.1-1.3x at N = 8..32, H = 32..256, within the byte limits
    above). The Elman RNN, whose step has no gate blocks, is faster in ROWS (1.0-3.6x),
    except for 16-32 rows of a wide layer: there OpenBLAS runs ``W_hh h^T`` much faster
    than ``h W_hh^T`` (the long dimension as the GEMM's M), which outweighs the
    transposed copies of input and output (FEATURES 0.74-0.89x the time of ROWS at
    N = 16, 32 and H = 256..1024; 1.02-1.21x at N = 8, 12; 0.94-1.16x at N = 64).
    """
    fused_bytes = -1 if w.w_aug is None else w.w_aug.nbytes
    if batch == 1:
        return FUSED if 0 <= fused_bytes <= FUSED_ROW_BYTES else ROWS
    if isinstance(w, RNNWeights):
        return FEATURES if 16 <= batch <= 32 and w.w_hh.shape[0] >= 256 else ROWS
    if batch >= 8 and 0 <= fused_bytes <= FUSED_FEATURES_BYTES[type(w).__name__]:
        return FUSED_FEATURES
    return FEATURES


def _blocks(layout: str) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """Slicer of gate blocks ``[lo:hi]`` along the gate axis of a work buffer."""
    if layout in (FEATURES, FUSED_FEATURES):
        return lambda a, lo, hi: a[lo:hi]
    return lambda a, lo, hi: a[:, lo:hi]


def _state(h0: np.ndarray, layout: str) -> np.ndarray:
    # Always a copy: the scan writes its final state here, and h0 may be the caller's array
    # (ascontiguousarray would return h0.T itself when P or N is 1).
    return np.array(h0.T if layout in (FEATURES, FUSED_FEATURES) else h0, order="C")


def _constant(value: float, dtype: np.dtype) -> np.ndarray:
    """``value`` as a read-only 0-d array of ``dtype``, made once per (value, dtype).

    A ufunc takes a 0-d array in ~0.36 µs, a Python float in ~0.68 µs (NumPy converts the
    scalar on every call; measured on [96, 8] float32 operands), and making the array
    costs ~0.8 µs, which a one-step call would pay every time without the cache.
    """
    key = (value, np.dtype(dtype))
    const = _CONSTANTS.get(key)
    if const is None:
        const = np.full((), value, dtype)
        const.flags.writeable = False
        _CONSTANTS[key] = const
    return const


_CONSTANTS: dict[tuple[float, np.dtype], np.ndarray] = {}


def _final_state(S: np.ndarray, h: np.ndarray, m: int, fm: bool) -> np.ndarray:
    """The scan's last state into ``S``, returned as [N, P] whatever the layout."""
    if fm:
        S[...] = h
        return S.T
    S[:m] = h
    return S


def rnn_scan(
    steps: Steps, w: RNNWeights, h0: np.ndarray, layout: str = ROWS, empty: Empty = np.empty
) -> np.ndarray:
    """Elman recurrence ``h' = act(xt + h W_hh^T)`` over ``steps``; returns the final state [N, H]."""
    rows, fm, fused = layout == ROWS, layout == FEATURES, layout == FUSED
    S = _state(h0, layout)
    h, m = S, h0.shape[0]
    w_rec = {ROWS: w.w_hh_t, FEATURES: w.w_hh, FUSED: w.w_aug}[layout]
    dot, add = np.dot, np.add
    relu = w.relu
    zero = _constant(0.0, S.dtype)  # a 0-d array: cheaper per call than a scalar
    for a, ot in steps:
        if fused:
            dot(a, w_rec, ot)  # [1, D+1+H] @ [D+1+H, H] -> [1, H]
        elif rows:
            n = a.shape[0]
            if n != m:  # packed: rows leave (forward) or join (reverse) the batch
                S[:m] = h
                h, m = S[:n], n
            dot(h, w_rec, ot)  # [n, H] @ [H, H] -> [n, H]
            add(ot, a, ot)
        else:
            dot(w_rec, h, ot)  # [H, H] @ [H, N] -> [H, N]
            add(ot, a, ot)
        if relu:
            np.maximum(ot, zero, out=ot)  # (positional out is deprecated for maximum)
        else:
            np.tanh(ot, ot)
        h = ot
    return _final_state(S, h, m, fm)


def lstm_scan(
    steps: Steps,
    w: LSTMWeights,
    h0: np.ndarray,
    c0: np.ndarray,
    layout: str = ROWS,
    empty: Empty = np.empty,
) -> tuple[np.ndarray, np.ndarray]:
    """LSTM recurrence over ``steps``; returns the final (state [N, P], cell [N, H]).

    Work buffer: ``[i f o | g | c]`` (5H along the gate axis), so that ``[i f] ⊙ [g c]``
    is one multiply and c never leaves the buffer.
    """
    rows, fused_rows, fused_fm = layout == ROWS, layout == FUSED, layout == FUSED_FEATURES
    fm = layout in (FEATURES, FUSED_FEATURES)
    S = _state(h0, layout)
    N, H = c0.shape
    shape = (lambda k: (k, N)) if fm else (lambda k: (N, k))
    blk = _blocks(layout)
    dtype = h0.dtype
    buf = empty(shape(5 * H), dtype)  # [i f o g c]
    blk(buf, 4 * H, 5 * H)[...] = c0.T if fm else c0
    pre_buf = empty(shape(4 * H), dtype)
    prod = empty(shape(2 * H), dtype)  # [i⊙g, f⊙c]
    tc = empty(shape(H), dtype)  # tanh(c), then o ⊙ tanh(c) when projecting
    w_rec = {ROWS: w.w_hh_t, FEATURES: w.w_hh, FUSED: w.w_aug, FUSED_FEATURES: w.w_aug_fm}[layout]
    w_hr_t = w.w_hr_t
    proj = w_hr_t is not None
    w_hr = None if w_hr_t is None else w_hr_t.T  # [P, H] view
    dot, add, mul, tanh = np.dot, np.add, np.multiply, np.tanh
    half = _constant(0.5, dtype)

    def views(m: int) -> tuple[np.ndarray, ...]:  # of the buffers, for the m live rows
        b, p, t = (buf, prod, tc) if fm else (buf[:m], prod[:m], tc[:m])
        gates = blk(b, 0, 4 * H)
        # The product goes to a contiguous buffer (BLAS and np.dot are fastest there);
        # row blocks, or a single row, are contiguous already.
        pre = gates if gates.flags.c_contiguous else pre_buf[:m]
        return (pre, gates, blk(b, 0, 3 * H), blk(b, 0, 2 * H), blk(b, 3 * H, 5 * H), blk(b, 2 * H, 3 * H),
                blk(b, 4 * H, 5 * H), p, blk(p, 0, H), blk(p, H, 2 * H), t)

    h, m = S, N
    pre, gates, sig, if_, gc, o, c, p, ig, fc, t = views(N)
    # Branches ordered for the tiny one-row case, where each test is a few % of a step.
    for a, ot in steps:
        if fused_rows:
            dot(a, w_rec, pre)  # [1, D+1+P] @ [D+1+P, 4H] -> [1, 4H]
        elif fused_fm:
            dot(w_rec, a, pre)  # [4H, D+1+P] @ [D+1+P, N] -> [4H, N]
        else:
            if rows:
                n = ot.shape[0]
                if n != m:  # packed: rows leave (forward) or join (reverse) the batch
                    S[:m] = h
                    h, m = S[:n], n
                    pre, gates, sig, if_, gc, o, c, p, ig, fc, t = views(m)
                dot(h, w_rec, pre)  # [n, P] @ [P, 4H] -> [n, 4H]
            else:
                dot(w_rec, h, pre)  # [4H, P] @ [P, N] -> [4H, N]
            add(pre, a, pre)
        tanh(pre, gates)  # tanh(g) and, from ½-scaled a, tanh(a/2)
        mul(sig, half, sig)
        add(sig, half, sig)  # σ(i), σ(f), σ(o)
        mul(if_, gc, p)  # [σ(i)⊙g, σ(f)⊙c]
        add(ig, fc, c)  # c' = σ(f)⊙c + σ(i)⊙g
        tanh(c, t)
        if proj:
            mul(o, t, t)
            if fm:
                dot(w_hr, t, ot)  # [P, H] @ [H, N] -> [P, N], the next step's h slot
            else:
                dot(t, w_hr_t, ot)  # [n, H] @ [H, P] -> [n, P]
        else:
            mul(o, t, ot)  # h' = σ(o) ⊙ tanh(c')
        h = ot
    c_final = blk(buf, 4 * H, 5 * H)
    return _final_state(S, h, m, fm), (c_final.T if fm else c_final).copy()


def gru_scan(
    steps: Iterable[tuple[np.ndarray, ...]],
    w: GRUWeights,
    h0: np.ndarray,
    layout: str = ROWS,
    empty: Empty = np.empty,
) -> np.ndarray:
    """GRU recurrence over ``steps`` of ``(x_rz, x_n, ot)``; returns the final state [N, H].

    FUSED (FUSED_FEATURES) steps are ``(src_t, ot)`` and the product gives
    ``[rz | x_n | h_n + b_hn]`` [1, 4H] ([4H, N]).
    """
    fm, fused = layout in (FEATURES, FUSED_FEATURES), layout in (FUSED, FUSED_FEATURES)
    rows, fused_rows, fused_fm = layout == ROWS, layout == FUSED, layout == FUSED_FEATURES
    S = _state(h0, layout)
    N, H = h0.shape
    shape = (lambda k: (k, N)) if fm else (lambda k: (N, k))
    blk = _blocks(layout)
    buf = empty(shape(4 * H if fused else 3 * H), h0.dtype)  # [r z n (x_n)]
    diff = empty(shape(H), h0.dtype)
    w_rec = {ROWS: w.w_hh_t, FEATURES: w.w_hh, FUSED: w.w_aug, FUSED_FEATURES: w.w_aug_fm}[layout]
    b_hn = w.b_hn
    if fm and b_hn is not None:
        b_hn = b_hn[:, None]  # [H, 1]: broadcast along the batch
    dot, add, mul, tanh, sub = np.dot, np.add, np.multiply, np.tanh, np.subtract
    half = _constant(0.5, h0.dtype)

    def views(m: int) -> tuple[np.ndarray, ...]:  # of the buffers, for the m live rows
        b, d = (buf, diff) if fm else (buf[:m], diff[:m])
        nn = blk(b, 3 * H, 4 * H) if fused else blk(b, 2 * H, 3 * H)  # h W_hn^T + b_hn, then n
        return b, d, blk(b, 0, 2 * H), blk(b, 0, H), blk(b, H, 2 * H), nn, blk(b, 2 * H, 3 * H)

    h, m = S, N
    b, d, rz, r, z, nn, x_n = views(N)  # x_n: in the fused product's output, else from the steps
    # Branches ordered for the tiny one-row case, where each test is a few % of a step.
    for step in steps:
        if fused_rows:
            dot(step[0], w_rec, b)  # [1, D+1+H] @ [D+1+H, 4H] -> [rz, x_n, h_n + b_hn]
        elif fused_fm:
            dot(w_rec, step[0], b)  # [4H, D+1+H] @ [D+1+H, N] -> [rz; x_n; h_n + b_hn]
        else:
            if rows:
                n = step[-1].shape[0]
                if n != m:  # packed: rows leave (forward) or join (reverse) the batch
                    S[:m] = h
                    h, m = S[:n], n
                    b, d, rz, r, z, nn, _ = views(m)
                dot(h, w_rec, b)  # [n, H] @ [H, 3H] -> [n, 3H]
            else:
                dot(w_rec, h, b)  # [3H, H] @ [H, N] -> [3H, N]
            add(rz, step[0], rz)
            x_n = step[1]
            if b_hn is not None:
                add(nn, b_hn, nn)
        tanh(rz, rz)
        mul(rz, half, rz)
        add(rz, half, rz)  # σ(r), σ(z)
        mul(nn, r, nn)  # r ⊙ (h W_hn^T + b_hn)
        add(nn, x_n, nn)
        tanh(nn, nn)  # n
        sub(h, nn, d)
        mul(d, z, d)
        h = step[-1]
        add(nn, d, h)  # h' = n + z ⊙ (h − n)
    return _final_state(S, h, m, fm)
