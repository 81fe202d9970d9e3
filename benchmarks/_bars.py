"""Judge measured rows against the bar of BENCHMARKS.md: one verdict per check, pass or miss."""

from __future__ import annotations

import math
from typing import Any

from _grid import (
    COLDSTART_BAR,
    GEMM_SHARE_BAR,
    GEMM_SHARE_CELL,
    ORT_BAR,
    TINY_CELLS,
    TINY_STEP_US_BAR,
    TORCH_BAR,
    TORCH_GEOMEAN_BAR,
)

# Largest |numrnn - torch| accepted in float32; beyond it the row is wrong, however fast.
MAX_DIFF_TOL = 1e-4


def _check(name: str, value: float | None, limit: float, at_most: bool = True) -> dict[str, Any]:
    if value is None:
        return {"check": name, "value": None, "limit": limit, "pass": None}
    ok = value <= limit if at_most else value >= limit
    return {"check": name, "value": value, "limit": limit, "pass": ok}


def row_checks(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every bar that applies to one measured (family, cell) row."""
    family, cell = row["family"], row["cell"]
    checks = [
        _check("max diff", row["max_diff"], MAX_DIFF_TOL),
        _check("x torch", row["vs_torch"], TORCH_BAR[family]),
    ]
    if cell in TINY_CELLS:
        checks.append(_check("us/step", row["us_per_step"], TINY_STEP_US_BAR[family]))
    elif row["vs_ort"] is not None:
        checks.append(_check("x ORT", row["vs_ort"], ORT_BAR))
    if cell == GEMM_SHARE_CELL:
        checks.append(_check("GEMM share", row["gemm_share"], GEMM_SHARE_BAR, at_most=False))
    return checks


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def family_summary(rows: list[dict[str, Any]], family: str) -> dict[str, Any]:
    """Geometric means of the ratios over one family's measured cells, and their check."""
    mine = [r for r in rows if r["family"] == family and r.get("vs_torch") is not None]
    summary: dict[str, Any] = {
        "family": family,
        "cells": len(mine),
        "geomean_vs_torch": geomean([r["vs_torch"] for r in mine]),
        "geomean_vs_ort": geomean([r["vs_ort"] for r in mine if r["vs_ort"] is not None]),
        "checks": [],
    }
    if family in TORCH_GEOMEAN_BAR:
        summary["checks"].append(
            _check("geomean x torch", summary["geomean_vs_torch"], TORCH_GEOMEAN_BAR[family])
        )
    return summary


def coldstart_checks(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """numrnn's cold start against ORT (wall, RSS) and torch (wall)."""
    ours, ort, torch = (figures.get(k) for k in ("numrnn", "onnxruntime", "torch"))

    def ratio(a: dict | None, b: dict | None, key: str) -> float | None:
        return a[key] / b[key] if a and b else None

    return [
        _check("wall x ORT", ratio(ours, ort, "wall_s"), COLDSTART_BAR["wall_vs_ort"]),
        _check("peak RSS x ORT", ratio(ours, ort, "rss_mib"), COLDSTART_BAR["rss_vs_ort"]),
        _check("wall x torch", ratio(ours, torch, "wall_s"), COLDSTART_BAR["wall_vs_torch"]),
    ]


def verdict(checks: list[dict[str, Any]]) -> str:
    """'pass', 'miss: <check> <value> (bar <limit>), ...', or 'n/a'."""
    misses = [c for c in checks if c["pass"] is False]
    if misses:
        return "miss: " + ", ".join(
            f"{c['check']} {c['value']:.3g} (bar {c['limit']:g})" for c in misses
        )
    return "pass" if any(c["pass"] for c in checks) else "n/a"
