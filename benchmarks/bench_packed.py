"""Packed variable-length batches: numrnn packed vs torch packed vs numrnn on the padded batch.

    python benchmarks/bench_packed.py            # 64 sequences, lengths uniform in [1, 200]
    python benchmarks/bench_packed.py --quick    # few repeats

For RNN (tanh), LSTM and GRU with D = H = 64, float32, the same weights in both engines:

* ``numrnn packed``  -- ``layer(pack_padded_sequence(x, lengths, enforce_sorted=False))``
* ``torch packed``   -- the same through ``torch.nn`` under ``torch.inference_mode()``
* ``numrnn padded``  -- ``layer(x)`` on the padded (T_max, B, D) batch, the work packing avoids

Only the layer call is timed (the input is packed once beforehand); a second table times
the packing utilities themselves. torch runs with as many threads as NumPy's BLAS
(threadpoolctl when installed, else torch's default). Medians of interleaved repeats.
Never a test: the exit status is non-zero only if something crashed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # numrnn from this checkout

import numrnn  # noqa: E402
from numrnn import packing  # noqa: E402

FAMILIES = (("RNN", {"nonlinearity": "tanh"}), ("LSTM", {}), ("GRU", {}))


def blas_threads() -> int | None:
    """Threads of NumPy's BLAS, or None when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else None


def medians(runs: dict[str, Callable[[], Any]], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per callable; repeats interleaved so noise hits every peer alike."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runs[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]
    return "\n".join([fmt[0], line, *fmt[1:]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=200)
    ap.add_argument("--size", type=int, default=64, help="input and hidden size")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 21)
    warmup = 1 if args.quick else 3

    try:
        import torch
        import torch.nn.utils.rnn as tr
    except ImportError:
        print("note: torch is not installed; nothing to compare against")
        return 0
    threads = blas_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()

    rng = np.random.default_rng(args.seed)
    B, D = args.batch, args.size
    lengths = rng.integers(1, args.max_len + 1, size=B)
    T = int(lengths.max())
    x = rng.standard_normal((T, B, D)).astype(np.float32)  # (T, B, D)
    packed_n = packing.pack_padded_sequence(x, lengths, enforce_sorted=False)
    packed_t = tr.pack_padded_sequence(torch.from_numpy(x), lengths, enforce_sorted=False)

    print(
        f"B={B} sequences, lengths uniform in [1, {args.max_len}] (T_max={T}, "
        f"{int(lengths.sum())} of {T * B} padded steps live), D=H={D}, float32, "
        f"{threads} thread(s), {repeats} repeats, numpy {np.__version__}, torch {torch.__version__}"
    )
    rows = []
    for name, extra in FAMILIES:
        torch.manual_seed(args.seed)
        t_layer = getattr(torch.nn, name)(D, D, **extra).eval()
        n_layer = getattr(numrnn, name)(D, D, **extra)
        n_layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
        try:
            out_n, _ = n_layer(packed_n)
            ref = t_layer(packed_t)[0].data.detach().numpy()
            diff = float(np.max(np.abs(np.asarray(out_n.data) - ref)))
        except Exception as exc:  # noqa: BLE001 -- any failure means "not supported yet"
            print(f"note: numrnn.{name} does not accept packed input yet "
                  f"({type(exc).__name__}: {exc}); skipping the benchmark")
            return 0

        def torch_packed(layer=t_layer):
            with torch.inference_mode():
                return layer(packed_t)

        times = medians(
            {
                "numrnn packed": lambda layer=n_layer: layer(packed_n),
                "torch packed": torch_packed,
                "numrnn padded": lambda layer=n_layer: layer(x),
            },
            repeats,
            warmup,
        )
        p, t, pad = times["numrnn packed"], times["torch packed"], times["numrnn padded"]
        rows.append([
            name, f"{p * 1e3:.2f}", f"{t * 1e3:.2f}", f"{pad * 1e3:.2f}",
            f"{p / t:.2f}x", f"{p / pad:.2f}x", f"{diff:.1e}",
        ])
    print()
    print(table(
        ["layer", "numrnn packed ms", "torch packed ms", "numrnn padded ms",
         "packed/torch", "packed/padded", "max |diff|"],
        rows,
    ))

    xt = torch.from_numpy(x)
    times = medians(
        {
            "numrnn pack": lambda: packing.pack_padded_sequence(x, lengths, enforce_sorted=False),
            "torch pack": lambda: tr.pack_padded_sequence(xt, lengths, enforce_sorted=False),
            "numrnn pad": lambda: packing.pad_packed_sequence(packed_n),
            "torch pad": lambda: tr.pad_packed_sequence(packed_t),
        },
        repeats * 5,
        warmup,
    )
    print()
    print(table(
        ["utility", "numrnn ms", "torch ms", "numrnn/torch"],
        [
            [u, f"{times['numrnn ' + u] * 1e3:.3f}", f"{times['torch ' + u] * 1e3:.3f}",
             f"{times['numrnn ' + u] / times['torch ' + u]:.2f}x"]
            for u in ("pack", "pad")
        ],
    ))
    print("\nratios < 1 mean numrnn is faster; packed/padded < 1 is the work saved by packing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
