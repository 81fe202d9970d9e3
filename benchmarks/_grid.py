"""The benchmark grid, the FLOP count of a recurrent layer, and the bar to clear.

Everything here is copied from ../shared/BENCHMARKS.md; change it there first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FAMILIES = ("rnn", "lstm", "gru")

# Gate blocks per family: G in 2·T·N·G·H·(D + H).
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


@dataclass(frozen=True)
class Cell:
    """One shape of the grid: N sequences of T steps, D inputs, H hidden units."""

    name: str
    N: int
    T: int
    D: int
    H: int
    layers: int = 1
    bidirectional: bool = False
    calls: int = 1  # > 1 only for `stream`: T steps per call, state carried between calls

    @property
    def steps(self) -> int:
        """Time steps processed by one timed sample (T x calls)."""
        return self.T * self.calls

    def as_dict(self) -> dict:
        return asdict(self)


GRID = (
    Cell("seed", N=1, T=1000, D=3, H=5),
    Cell("small", N=8, T=500, D=32, H=32),
    Cell("medium", N=32, T=100, D=64, H=64),
    Cell("wide", N=64, T=200, D=128, H=256),
    Cell("skinny", N=16, T=100, D=256, H=512),
    Cell("large", N=128, T=50, D=512, H=1024),
    Cell("stacked", N=32, T=100, D=64, H=128, layers=2, bidirectional=True),
    Cell("stream", N=1, T=1, D=3, H=5, calls=1000),
)

# `--quick`: the cheap cells, still covering tiny, batched, stacked-bidirectional, streaming.
QUICK_CELLS = ("seed", "small", "medium", "stacked", "stream")

CELLS = {cell.name: cell for cell in GRID}

# Compute-bound cells: the GEMM is timed in the same interleaved rounds, so their share of
# the GEMM peak is immune to load that drifts during the run.
COMPUTE_BOUND = ("wide", "skinny", "large")


def flops(family: str, cell: Cell) -> float:
    """FLOPs of the whole stack: sum over layers and directions of 2·T·N·G·H·(D_layer + H).

    Layers above the first read the previous layer's output, so their D is H·directions.
    """
    directions = 2 if cell.bidirectional else 1
    total = 0
    for layer in range(cell.layers):
        d_in = cell.D if layer == 0 else cell.H * directions
        total += directions * 2 * cell.steps * cell.N * GATES[family] * cell.H * (d_in + cell.H)
    return float(total)


# The bar (BENCHMARKS.md, "The bar").
TORCH_BAR = {"rnn": 0.5, "lstm": 1.0, "gru": 1.0}
TORCH_GEOMEAN_BAR = {"lstm": 0.8, "gru": 0.8}
ORT_BAR = 1.0
TINY_CELLS = ("seed", "stream")  # judged on µs per step instead of the ORT ratio
TINY_STEP_US_BAR = {"rnn": 1.2, "lstm": 2.5, "gru": 2.5}
GEMM_SHARE_CELL = "large"
GEMM_SHARE_BAR = 0.85
COLDSTART_BAR = {"wall_vs_ort": 0.9, "rss_vs_ort": 0.6, "wall_vs_torch": 0.1}
MEMORY_HEADROOM_MIB = 64
