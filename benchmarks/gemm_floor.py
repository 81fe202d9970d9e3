"""The GEMM floor of each grid cell: what NumPy's BLAS takes for the matrix products alone.

    python benchmarks/gemm_floor.py                   # every family, the batched cells
    python benchmarks/gemm_floor.py --families lstm --cells wide,large --md floor.md

A recurrent layer's FLOPs (2·T·N·G·H·(D + H) per layer and direction) must go through
matrix products: the input part can be one GEMM over all steps, the recurrent part is T
products of [G·H, H] by [H, N] that cannot be merged (each needs the previous step's h).
This script times exactly those products with NumPy, each in the faster of its two forms
(feature-major ``W @ h`` or row-major ``h @ W^T``; projection as ``[T·N, D+1] @ [D+1, G·H]``
or ``[G·H, D+1] @ [D+1, T·N]``), interleaved with the whole forward pass of numrnn, torch
and ONNX Runtime (when installed) on the same cell, built as in run.py. ``floor / peer``
above the bar proves the bar is out of reach for any NumPy implementation on this BLAS,
before a single gate is computed; ``numrnn / floor`` is what numrnn spends beyond the
products (gate arithmetic, Python per step, copies).
Not a test: nothing fails because the machine is slow.
"""

from __future__ import annotations

import argparse
import sys

from _env import REPO, reexec_without_blas_overrides

REEXEC_NOTE = reexec_without_blas_overrides()
sys.path.insert(1, str(REPO))

from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import _env  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _grid import CELLS, FAMILIES, GATES, ORT_BAR, TORCH_BAR, Cell  # noqa: E402
from _peers import build, ort_available, scratch_dir  # noqa: E402
from _timing import gemm_gflops, interleaved_medians  # noqa: E402

BATCHED_CELLS = ("small", "medium", "wide", "skinny", "large", "stacked")


def _products(family: str, cell: Cell) -> dict[str, Callable[[], object]]:
    """The cell's matrix products, every layer and direction, in each of the two forms."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    G = GATES[family] * cell.H
    dirs = 2 if cell.bidirectional else 1
    TN = cell.T * cell.N
    rec_fm, rec_rows, proj_rows, proj_fm = [], [], [], []
    for layer in range(cell.layers):
        d_in = (cell.D if layer == 0 else cell.H * dirs) + 1  # + the bias row
        for _ in range(dirs):
            w = rng.standard_normal((G, cell.H), dtype=f32) * 0.05
            h = rng.standard_normal((cell.H, cell.N), dtype=f32)
            rec_fm.append((w, h, np.empty((G, cell.N), f32)))
            rec_rows.append((h.T.copy(), w.T.copy(), np.empty((cell.N, G), f32)))
            wi = rng.standard_normal((G, d_in), dtype=f32) * 0.05
            x = rng.standard_normal((d_in, TN), dtype=f32)
            proj_fm.append((wi, x, np.empty((G, TN), f32)))
            proj_rows.append((x.T.copy(), wi.T.copy(), np.empty((TN, G), f32)))

    def recurrent(operands: list) -> Callable[[], object]:
        def run() -> object:
            dot = np.dot
            for a, b, out in operands:
                for _ in range(cell.T):
                    dot(a, b, out)
            return out

        return run

    def projection(operands: list) -> Callable[[], object]:
        def run() -> object:
            for a, b, out in operands:
                np.matmul(a, b, out=out)
            return out

        return run

    return {
        "rec W@h": recurrent(rec_fm),
        "rec h@W^T": recurrent(rec_rows),
        "proj rows": projection(proj_rows),
        "proj features": projection(proj_fm),
    }


def _gates(family: str, cell: Cell) -> Callable[[], object]:
    """T steps of the family's gate arithmetic, every layer and direction, as few NumPy calls
    as a step needs (in place, contiguous feature-major blocks, 0-d scalars).

    The input add is left out (a fused product can absorb it), so this plus the GEMM floor is
    a lower bound on any NumPy step: RNN 1 call (the activation), LSTM 7, GRU 9.
    """
    f32, H, N = np.float32, cell.H, cell.N
    dirs = 2 if cell.bidirectional else 1
    half = np.full((), 0.5, f32)
    mul, add, tanh, sub = np.multiply, np.add, np.tanh, np.subtract
    buf = np.random.default_rng(1).uniform(-1, 1, (6 * H, N)).astype(f32)
    b = [buf[k * H : (k + 1) * H] for k in range(6)]
    prod, out = np.empty((2 * H, N), f32), np.empty((H, N), f32)  # never overlapping buf
    steps = cell.T * cell.layers * dirs

    def rnn() -> object:
        for _ in range(steps):
            tanh(b[0], b[0])
        return buf

    def lstm() -> object:  # buffers as numrnn's kernel: [i f o g c], [i⊙g f⊙c], tanh(c), h
        gates, sig, if_, gc = buf[: 4 * H], buf[: 3 * H], buf[: 2 * H], buf[3 * H : 5 * H]
        o, c, t, h = b[2], b[4], b[5], out
        for _ in range(steps):
            tanh(gates, gates)
            mul(sig, half, sig)
            add(sig, half, sig)
            mul(if_, gc, prod)
            add(prod[:H], prod[H:], c)
            tanh(c, t)
            mul(o, t, h)
        return h

    def gru() -> object:  # [r z | n | x_n | h | d]
        rz = buf[: 2 * H]
        for _ in range(steps):
            tanh(rz, rz)
            mul(rz, half, rz)
            add(rz, half, rz)
            mul(b[2], b[0], b[2])
            add(b[2], b[3], b[2])
            tanh(b[2], b[2])
            sub(b[4], b[2], b[5])
            mul(b[5], b[1], b[5])
            add(b[2], b[5], b[4])
        return buf

    return {"rnn": rnn, "lstm": lstm, "gru": gru}[family]


def measure(family: str, cell: Cell, threads: int, budget_s: float) -> dict[str, float]:
    with scratch_dir() as workdir:
        peers = build(family, cell, threads, Path(workdir), ort_available())
    runs = {**peers.runs, **_products(family, cell), "gates": _gates(family, cell)}
    with torch.inference_mode():
        med = {k: v["median_s"] * 1e3 for k, v in
               interleaved_medians(runs, budget_s=budget_s, min_rounds=3, max_rounds=15).items()}
    gemm = min(med["rec W@h"], med["rec h@W^T"]) + min(med["proj rows"], med["proj features"])
    return {**med, "gemm": gemm, "floor": gemm + med["gates"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--cells", default=",".join(BATCHED_CELLS))
    p.add_argument("--threads", type=int, default=_env.default_threads())
    p.add_argument("--budget", type=float, default=6.0, help="seconds of timing per cell")
    p.add_argument("--md", type=Path, help="also write the table here (markdown)")
    args = p.parse_args(argv)
    notes = _env.set_threads(args.threads)
    if REEXEC_NOTE:
        notes.append(REEXEC_NOTE)
    peak = gemm_gflops()
    lines = [
        f"GEMM floor, {args.threads} threads, 2048² GEMM peak {peak:.1f} GFLOP/s; bar ×ORT "
        f"{ORT_BAR:.1f}"
        + (f" ({'; '.join(notes)})" if notes else ""),
        "",
        "| family | cell | numrnn ms | torch ms | ORT ms | GEMM floor ms | gate floor ms "
        "| floor ms | floor ×torch | bar ×torch | floor ×ORT | numrnn ×floor |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    print(lines[0], flush=True)
    for family in args.families.split(","):
        for name in args.cells.split(","):
            m = measure(family, CELLS[name], args.threads, args.budget)
            ort = m.get("onnxruntime")
            ort_ms = "-" if ort is None else f"{ort:.3f}"
            floor_ort = "-" if ort is None else f"{m['floor'] / ort:.2f}"
            row = (
                f"| {family} | {name} | {m['numrnn']:.3f} | {m['torch']:.3f} | {ort_ms} "
                f"| {m['gemm']:.3f} | {m['gates']:.3f} | {m['floor']:.3f} "
                f"| {m['floor'] / m['torch']:.2f} | {TORCH_BAR[family]:.1f} | {floor_ort} "
                f"| {m['numrnn'] / m['floor']:.2f} |"
            )
            lines.append(row)
            print(row, flush=True)
    if args.md:
        args.md.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
