"""Measure one (family, cell): build the peers, time them interleaved, derive the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from _bars import row_checks, verdict
from _grid import COMPUTE_BOUND, Cell, flops
from _peers import build
from _timing import GEMM_FLOPS, gemm_run, interleaved_medians

# Seconds of interleaved rounds per cell (all peers together), and limits on the rounds.
FULL = {"budget_s": 6.0, "min_rounds": 5, "max_rounds": 60}
QUICK = {"budget_s": 0.5, "min_rounds": 3, "max_rounds": 10}


def measure(
    family: str,
    cell: Cell,
    *,
    threads: int,
    workdir: Path,
    with_ort: bool,
    gemm_gflops: float,
    quick: bool,
) -> dict[str, Any]:
    """One table row: medians, ratios, GFLOP/s, share of GEMM peak, µs per step, max diff.

    `gemm_gflops` is the run's GEMM peak; compute-bound cells time their own in the rounds.

    Raises `_peers.Skip` when numrnn lacks the family.
    """
    peers = build(family, cell, threads, workdir, with_ort)
    runs = dict(peers.runs)
    if cell.name in COMPUTE_BOUND:
        runs["gemm"] = gemm_run()
    with torch.inference_mode():
        timed = interleaved_medians(runs, **(QUICK if quick else FULL))
    if "gemm" in timed:
        gemm_gflops = GEMM_FLOPS / timed.pop("gemm")["median_s"] / 1e9
    work = flops(family, cell)
    median = {name: t["median_s"] for name, t in timed.items()}
    ours = median["numrnn"]
    ort = median.get("onnxruntime")
    row: dict[str, Any] = {
        "family": family,
        "cell": cell.name,
        "shape": cell.as_dict(),
        "flops": work,
        "timings": timed,
        "numrnn_ms": ours * 1e3,
        "torch_ms": median["torch"] * 1e3,
        "ort_ms": ort * 1e3 if ort is not None else None,
        "vs_torch": ours / median["torch"],
        "vs_ort": ours / ort if ort is not None else None,
        # Best-of-repeats ratios: less hurt by other work on a shared machine than medians.
        "vs_torch_best": timed["numrnn"]["min_s"] / timed["torch"]["min_s"],
        "vs_ort_best": timed["numrnn"]["min_s"] / timed["onnxruntime"]["min_s"] if ort else None,
        "gflops": work / ours / 1e9,
        "gflops_by_engine": {name: work / t / 1e9 for name, t in median.items()},
        "gemm_gflops": gemm_gflops,
        "gemm_local": cell.name in COMPUTE_BOUND,
        "gemm_share": work / ours / 1e9 / gemm_gflops,
        "us_per_step": ours / cell.steps * 1e6,
        "us_per_step_by_engine": {name: t / cell.steps * 1e6 for name, t in median.items()},
        "max_diff": peers.max_diff["numrnn"],
        "ort_max_diff": peers.max_diff.get("onnxruntime"),
        "notes": peers.notes,
    }
    row["checks"] = row_checks(row)
    row["verdict"] = verdict(row["checks"])
    return row

