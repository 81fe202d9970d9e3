"""Load time of a ~100 MB checkpoint: numrnn.load (mmap and not) beside torch.load.

    python benchmarks/bench_load.py [--mb 100] [--repeats 7]

Writes a torch.save state dict of float32 tensors (an LSTM-sized model) to a
temporary directory, then prints median wall times of loading it, from a warm
page cache. "load" is the call alone; "load + read" also touches every byte
(sums every tensor), which is where memory-mapped loads pay for their reads.
Never a test: nothing fails because the machine is slow.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's numrnn

from numrnn.checkpoint import load, save  # noqa: E402


def _state_dict(megabytes: float) -> dict[str, np.ndarray]:
    """Stacked LSTM weights (hidden 1024) until the total reaches ``megabytes``."""
    rng = np.random.default_rng(0)
    hidden, tensors, total, layer = 1024, {}, 0, 0
    while total < megabytes * 1e6:
        for name, shape in ((f"lstm.weight_ih_l{layer}", (4 * hidden, hidden)),
                            (f"lstm.weight_hh_l{layer}", (4 * hidden, hidden)),
                            (f"lstm.bias_ih_l{layer}", (4 * hidden,)),
                            (f"lstm.bias_hh_l{layer}", (4 * hidden,))):
            tensors[name] = rng.standard_normal(shape, dtype=np.float32)
            total += tensors[name].nbytes
        layer += 1
    return tensors


def _median(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _touch(obj: dict) -> float:
    return float(sum(np.asarray(v).sum(dtype=np.float64) for v in obj.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(tmp) / "model.pt"
        st = Path(tmp) / "model.safetensors"
        state = _state_dict(args.mb)
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, pt)
        save(state, st)
        size = pt.stat().st_size / 1e6
        loaders: dict[str, Callable[[], Any]] = {
            "numrnn.load(.pt)": lambda: load(pt),
            "numrnn.load(.pt, mmap=True)": lambda: load(pt, mmap=True),
            "torch.load(weights_only=True)": lambda: torch.load(pt, weights_only=True),
            "torch.load(mmap=True)": lambda: torch.load(pt, mmap=True, weights_only=True),
            "numrnn.load(.safetensors)": lambda: load(st),
            "numrnn.load(.safetensors, mmap=True)": lambda: load(st, mmap=True),
        }
        print(f"checkpoint: {len(state)} float32 tensors, {size:.1f} MB (torch zip); "
              f"median of {args.repeats}, warm page cache\n")
        print(f"| {'loader':<38} | {'load (ms)':>10} | {'load + read (ms)':>17} |")
        print(f"|{'-' * 40}|{'-' * 12}|{'-' * 19}|")
        for name, fn in loaders.items():
            fn()  # warm up: page cache, imports
            bare = _median(fn, args.repeats)
            touched = _median(lambda fn=fn: _touch(fn()), args.repeats)
            print(f"| {name:<38} | {bare * 1e3:>10.1f} | {touched * 1e3:>17.1f} |")


if __name__ == "__main__":
    main()
