"""Peak memory of a long sequence: LSTM, T = 20 000, N = 8, D = H = 256, float32.

In a fresh interpreter: the peak RSS after importing NumPy is the baseline; the figure is
the peak RSS after the forward pass minus that baseline, against the bar of input bytes +
output bytes + 64 MiB (the input projection must be computed in chunks of time steps).
torch is measured the same way, its baseline taken after `import torch`, for reference.
"""

from __future__ import annotations

from typing import Any

from _children import ChildFailed, run_child
from _grid import MEMORY_HEADROOM_MIB

import numrnn

T, N, D, H = 20_000, 8, 256, 256

_PEAK = "_peak_kib()"  # defined by _children.PEAK_RSS

NUMRNN = f"""
import numpy as np
base = {_PEAK}
import numrnn as nn
lstm = nn.LSTM({D}, {H})
x = np.random.default_rng(0).standard_normal(({T}, {N}, {D}), dtype=np.float32)
out, (h, c) = lstm(x)
REPORT = (base, x.nbytes, out.nbytes)
"""

TORCH = f"""
import numpy as np
import torch
base = {_PEAK}
lstm = torch.nn.LSTM({D}, {H}).eval()
x = torch.from_numpy(
    np.random.default_rng(0).standard_normal(({T}, {N}, {D}), dtype=np.float32))
with torch.inference_mode():
    out, (h, c) = lstm(x)
REPORT = (base, x.nbytes, out.nbytes)
"""


def _figures(prog: str) -> dict[str, float]:
    wall, (peak, base, x_bytes, out_bytes) = run_child(prog)
    mib = 1024**2
    return {
        "base_mib": base / 1024,
        "peak_mib": peak / 1024,
        "above_base_mib": (peak - base) / 1024,
        "input_mib": x_bytes / mib,
        "output_mib": out_bytes / mib,
        "limit_mib": (x_bytes + out_bytes) / mib + MEMORY_HEADROOM_MIB,
        "wall_s": wall,
    }


def measure() -> dict[str, Any]:
    """numrnn's (and torch's) peak RSS above the NumPy baseline, and numrnn's check."""
    result: dict[str, Any] = {"shape": {"T": T, "N": N, "D": D, "H": H}, "notes": []}
    progs = {"torch": TORCH}
    if hasattr(numrnn, "LSTM"):
        progs = {"numrnn": NUMRNN, **progs}
    else:
        result["notes"].append("long-sequence memory of numrnn skipped: no numrnn.LSTM yet")
    for name, prog in progs.items():
        try:
            result[name] = _figures(prog)
        except ChildFailed as exc:
            result["notes"].append(f"long-sequence memory of {name} failed: {exc}")
    ours = result.get("numrnn")
    if ours:
        result["check"] = {
            "check": "peak above numpy",
            "value": ours["above_base_mib"],
            "limit": ours["limit_mib"],
            "pass": ours["above_base_mib"] <= ours["limit_mib"],
        }
    return result
