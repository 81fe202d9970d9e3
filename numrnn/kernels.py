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
kernel weights once per parameter change: weights transposed to ``(in, G·H)``,
biases fused, and for LSTM/GRU the sigmoid gates scaled by ½ so that one ``tanh``
serves every gate (σ(a) = ½·tanh(a/2) + ½, which also never overflows). The LSTM
gates are reordered to ``i|f|o|g`` so the sigmoid gates form one block. Then
``project`` computes the input part of every step as one matrix product over a
chunk of time steps, and ``*_scan`` runs the recurrence in place, step by step,
into preallocated buffers.

A scan takes ``steps``: an iterable of ``(xt, ot)`` pairs, the projected input of
one step ``(n, G·H)`` and the output slot it writes ``(n, P)``. ``n`` may shrink
(packed sequences, forward) or grow (packed, reverse) from step to step; rows
leave and join the state ``S`` ``(N, P)`` then, which is why finished sequences
keep their last state and new ones start from their initial state. The scan
returns the final state of every row.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

__all__ = [
    "RNNWeights",
    "LSTMWeights",
    "GRUWeights",
    "prepare_rnn",
    "prepare_lstm",
    "prepare_gru",
    "project",
    "split_input",
    "rnn_scan",
    "lstm_scan",
    "gru_scan",
]

Steps = Iterable[tuple[np.ndarray, np.ndarray]]


class RNNWeights(NamedTuple):
    w_ih_t: np.ndarray  # [D, H]
    w_hh_t: np.ndarray  # [H, H]
    b: np.ndarray | None  # [H]   b_ih + b_hh
    relu: bool


class LSTMWeights(NamedTuple):
    w_ih_t: np.ndarray  # [D, 4H]  gates i|f|o|g, i f o scaled by ½
    w_hh_t: np.ndarray  # [P, 4H]
    b: np.ndarray | None  # [4H]
    w_hr_t: np.ndarray | None  # [H, P]


class GRUWeights(NamedTuple):
    w_ih_t: np.ndarray  # [D, 3H]  gates r|z|n, r z scaled by ½
    w_hh_t: np.ndarray  # [H, 3H]
    b: np.ndarray | None  # [3H]    (b_ir + b_hr)/2 | (b_iz + b_hz)/2 | b_in
    b_hn: np.ndarray | None  # [H]


def _fused_bias(b_ih: np.ndarray | None, b_hh: np.ndarray | None) -> np.ndarray | None:
    return None if b_ih is None else b_ih + b_hh


def prepare_rnn(w_ih, w_hh, b_ih=None, b_hh=None, relu=False) -> RNNWeights:
    """Kernel weights of an Elman RNN layer from torch's ``weight_ih`` [H, D] etc."""
    return RNNWeights(
        np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), _fused_bias(b_ih, b_hh), relu
    )


def _lstm_gates(a: np.ndarray) -> np.ndarray:
    # torch's i|f|g|o blocks along axis 0 -> i|f|o|g, with σ-gates scaled by ½.
    i, f, g, o = np.split(a, 4, axis=0)
    return np.concatenate([0.5 * i, 0.5 * f, 0.5 * o, g], axis=0)


def prepare_lstm(w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None) -> LSTMWeights:
    """Kernel weights of an LSTM layer from torch's ``weight_ih`` [4H, D], ``weight_hh`` [4H, P]..."""
    b = _fused_bias(b_ih, b_hh)
    return LSTMWeights(
        np.ascontiguousarray(_lstm_gates(w_ih).T),
        np.ascontiguousarray(_lstm_gates(w_hh).T),
        None if b is None else _lstm_gates(b),
        None if w_hr is None else np.ascontiguousarray(w_hr.T),
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
    return GRUWeights(
        np.ascontiguousarray((w_ih * scale).T), np.ascontiguousarray((w_hh * scale).T), b, b_hn
    )


def project(x: np.ndarray, w_t: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """Input part of a chunk of steps, ``out = x W^T + b``: [c, N, D] -> [c, N, G·H]."""
    c, n, d = x.shape
    x2 = np.ascontiguousarray(x).reshape(c * n, d)  # one GEMM for the whole chunk
    np.matmul(x2, w_t, out=out.reshape(c * n, -1))
    if b is not None:
        out += b
    return out


def split_input(w: RNNWeights | LSTMWeights | GRUWeights, xp: np.ndarray) -> tuple[np.ndarray, ...]:
    """The projected input as the scan reads it: GRU's r|z and n parts apart, [..., 2H] and [..., H].

    Split once per chunk, so no step slices its input.
    """
    if isinstance(w, GRUWeights):
        H2 = w.w_hh_t.shape[1] * 2 // 3
        return xp[..., :H2], xp[..., H2:]
    return (xp,)


def rnn_scan(steps: Steps, w: RNNWeights, h0: np.ndarray) -> np.ndarray:
    """Elman recurrence ``h' = act(xt + h W_hh^T)`` over ``steps``; returns the final S [N, H]."""
    S = h0.copy()
    h, m = S, S.shape[0]
    w_hh_t = w.w_hh_t
    act = np.maximum if w.relu else None
    for xt, ot in steps:
        n = xt.shape[0]
        if n != m:  # packed: rows leave (forward) or join (reverse) the batch
            S[:m] = h
            h, m = S[:n], n
        np.dot(h, w_hh_t, out=ot)  # [n, H] @ [H, H] -> [n, H]; dot: least overhead on small operands
        np.add(ot, xt, out=ot)
        if act is None:
            np.tanh(ot, out=ot)
        else:
            act(ot, 0, out=ot)
        h = ot
    S[:m] = h
    return S


def lstm_scan(
    steps: Steps, w: LSTMWeights, h0: np.ndarray, c0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """LSTM recurrence over ``steps``; returns the final (S [N, P], C [N, H]).

    Work buffer per row: ``[i f o | g | c]`` (5H wide), so that ``[i f] ⊙ [g c]``
    is one multiply and c never leaves the buffer.
    """
    S = h0.copy()
    N, H = c0.shape
    buf = np.empty((N, 5 * H), dtype=h0.dtype)  # [i f o g c]
    buf[:, 4 * H :] = c0
    pre_buf = np.empty((N, 4 * H), dtype=h0.dtype)
    prod = np.empty((N, 2 * H), dtype=h0.dtype)  # [i⊙g, f⊙c]
    tc = np.empty((N, H), dtype=h0.dtype)  # tanh(c), then o ⊙ tanh(c) when projecting
    w_hh_t, w_hr_t = w.w_hh_t, w.w_hr_t
    h, m, b = S, N, None
    for xt, ot in steps:
        n = xt.shape[0]
        if n != m:  # packed: rows leave (forward) or join (reverse) the batch
            S[:m] = h
            h, m, b = S[:n], n, None
        if b is None:  # views of the buffers for the m live rows
            b = buf[:m]
            gates, sig, if_, gc = b[:, : 4 * H], b[:, : 3 * H], b[:, : 2 * H], b[:, 3 * H :]
            o, c = b[:, 2 * H : 3 * H], b[:, 4 * H :]
            # The product goes to a contiguous buffer (BLAS and np.dot are fastest there);
            # with one row, the gates' own view is contiguous already.
            pre = gates if gates.flags.c_contiguous else pre_buf[:m]
            p = prod[:m]
            ig, fc, t = p[:, :H], p[:, H:], tc[:m]
        np.dot(h, w_hh_t, out=pre)  # [n, P] @ [P, 4H] -> [n, 4H]
        np.add(pre, xt, out=pre)
        np.tanh(pre, out=gates)  # tanh(g) and, from ½-scaled a, tanh(a/2)
        np.multiply(sig, 0.5, out=sig)
        np.add(sig, 0.5, out=sig)  # σ(i), σ(f), σ(o)
        np.multiply(if_, gc, out=p)  # [σ(i)⊙g, σ(f)⊙c]
        np.add(ig, fc, out=c)  # c' = σ(f)⊙c + σ(i)⊙g
        np.tanh(c, out=t)
        if w_hr_t is None:
            np.multiply(o, t, out=ot)  # h' = σ(o) ⊙ tanh(c')
        else:
            np.multiply(o, t, out=t)
            np.dot(t, w_hr_t, out=ot)  # [n, H] @ [H, P] -> [n, P]
        h = ot
    S[:m] = h
    return S, buf[:, 4 * H :].copy()


def gru_scan(steps: Iterable[tuple[np.ndarray, ...]], w: GRUWeights, h0: np.ndarray) -> np.ndarray:
    """GRU recurrence over ``steps`` of ``(x_rz, x_n, ot)``; returns the final S [N, H]."""
    S = h0.copy()
    N, H = S.shape
    buf = np.empty((N, 3 * H), dtype=h0.dtype)  # [r z n]
    diff = np.empty((N, H), dtype=h0.dtype)
    w_hh_t, b_hn = w.w_hh_t, w.b_hn
    h, m, b = S, N, None
    for x_rz, x_n, ot in steps:
        n = ot.shape[0]
        if n != m:
            S[:m] = h
            h, m, b = S[:n], n, None
        if b is None:
            b = buf[:m]
            rz, r, z, nn = b[:, : 2 * H], b[:, :H], b[:, H : 2 * H], b[:, 2 * H :]
            d = diff[:m]
        np.dot(h, w_hh_t, out=b)  # [n, H] @ [H, 3H] -> [n, 3H]
        np.add(rz, x_rz, out=rz)
        np.tanh(rz, out=rz)
        np.multiply(rz, 0.5, out=rz)
        np.add(rz, 0.5, out=rz)  # σ(r), σ(z)
        if b_hn is not None:
            np.add(nn, b_hn, out=nn)
        np.multiply(nn, r, out=nn)  # r ⊙ (h W_hn^T + b_hn)
        np.add(nn, x_n, out=nn)
        np.tanh(nn, out=nn)  # n
        np.subtract(h, nn, out=d)
        np.multiply(d, z, out=d)
        np.add(nn, d, out=ot)  # h' = n + z ⊙ (h − n)
        h = ot
    S[:m] = h
    return S
