"""Present results: the markdown table (printed and saved), the JSON, and the PNG plot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from _bars import verdict
from _grid import COMPUTE_BOUND, TORCH_BAR


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _header(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    blas = "; ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
        for b in m["blas"]
    )
    return [
        f"Measured {results['date']} on {m['cpu']}, {m['cores']} cores "
        f"({m['usable_cpus']} usable); Python {m['python']}, NumPy {m['numpy']}, "
        f"torch {m['torch']}, ONNX Runtime {m['onnxruntime'] or 'not installed'}.",
        f"Threads: {results['threads']} everywhere (NumPy BLAS, torch, ORT intra-op). "
        f"BLAS: {blas or 'unknown'}.",
        f"GEMM peak (2048×2048 float32 `np.matmul`): {results['gemm_gflops']:.1f} GFLOP/s "
        f"at the start; the compute-bound cells ({', '.join(COMPUTE_BOUND)}) time it in their "
        f"own rounds and take % GEMM from that. "
        f"Medians per call, the peers' blocks of calls interleaved (each after an untimed "
        f"settle); ×torch and ×ORT are numrnn's time over the peer's "
        f"(lower is better). CPUs busy with other work before → after: "
        f"{_busy(results['busy_cpus'])}.",
    ]


def _busy(busy: dict[str, float | None]) -> str:
    text = " → ".join("?" if v is None else f"{v:.2f}" for v in (busy["start"], busy["end"]))
    if max(v or 0 for v in busy.values()) > 0.25:
        text += " (**other work was running: figures may be skewed; rerun on a quiet machine**)"
    return text


def _shape(s: dict[str, Any]) -> str:
    text = f"{s['N']}×{s['T']}×{s['D']}→{s['H']}"
    if s["layers"] > 1:
        text += f" ×{s['layers']}L"
    if s["bidirectional"]:
        text += " bi"
    if s["calls"] > 1:
        text += f" ×{s['calls']} calls"
    return text


def _cell_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| family | cell | N×T×D→H | numrnn ms | torch ms | ORT ms | ×torch | ×ORT "
        "| GFLOP/s | % GEMM | µs/step | max diff | bar |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['cell']} | {_shape(r['shape'])} | {r['numrnn_ms']:.3f} "
            f"| {r['torch_ms']:.3f} | {_num(r['ort_ms'], '.3f')} | {r['vs_torch']:.2f} "
            f"| {_num(r['vs_ort'], '.2f')} | {r['gflops']:.2f} | {100 * r['gemm_share']:.1f} "
            f"| {r['us_per_step']:.2f} | {r['max_diff']:.1e} | {r['verdict']} |"
        )
    return lines


def _summary(results: dict[str, Any]) -> list[str]:
    lines = ["", "| family | cells | geomean ×torch | geomean ×ORT | bar |"]
    lines.append("|---|--:|--:|--:|---|")
    for s in results["families"]:
        lines.append(
            f"| {s['family']} | {s['cells']} | {_num(s['geomean_vs_torch'], '.2f')} "
            f"| {_num(s['geomean_vs_ort'], '.2f')} | {verdict(s['checks'])} |"
        )
    return lines


def _coldstart(cold: dict[str, Any] | None) -> list[str]:
    if not cold:
        return []
    lines = ["", f"Cold start (fresh interpreter → import → load → one forward; "
             f"median of {cold['repeats']}):", "",
             "| engine | wall s | peak RSS MiB |", "|---|--:|--:|"]
    for name, f in cold["engines"].items():
        lines.append(f"| {name} | {f['wall_s']:.3f} | {f['rss_mib']:.1f} |")
    lines.append(f"\nnumrnn's output vs torch's: max diff {_num(cold['max_diff'], '.1e')}. "
                 f"Cold-start bar: {verdict(cold['checks'])}")
    return lines


def _memory(mem: dict[str, Any] | None) -> list[str]:
    if not mem:
        return []
    s = mem["shape"]
    lines = ["", f"Long sequence (LSTM T={s['T']}, N={s['N']}, D=H={s['D']}), peak RSS:", "",
             "| engine | baseline MiB | peak MiB | above baseline MiB | input+output+64 MiB |",
             "|---|--:|--:|--:|--:|"]
    for name in ("numrnn", "torch"):
        if name in mem:
            f = mem[name]
            lines.append(f"| {name} | {f['base_mib']:.1f} | {f['peak_mib']:.1f} "
                         f"| {f['above_base_mib']:.1f} | {f['limit_mib']:.1f} |")
    if "check" in mem:
        lines.append(f"\nMemory bar: {verdict([mem['check']])}")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The whole report as markdown: header, cell table, family summary, process figures."""
    lines = _header(results) + [""] + _cell_table(results["rows"]) + _summary(results)
    lines += _coldstart(results.get("coldstart")) + _memory(results.get("memory"))
    if results["notes"]:
        lines += ["", "Notes:"] + [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(results: dict[str, Any], path: Path) -> None:
    _atomic_write(path, (json.dumps(results, indent=1) + "\n").encode())


def write_markdown(results: dict[str, Any], path: Path) -> None:
    _atomic_write(path, markdown(results).encode())


def write_plot(results: dict[str, Any], path: Path) -> bool:
    """Ratio per cell per peer, one panel per family, a line at 1.0. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    families = [f["family"] for f in results["families"] if f["cells"]]
    if not families:
        return False
    fig, axes = plt.subplots(len(families), 1, figsize=(11, 2.8 * len(families)), squeeze=False)
    for ax, family in zip(axes[:, 0], families):
        rows = [r for r in results["rows"] if r["family"] == family]
        xs = range(len(rows))
        peers = (("vs_torch", "÷ torch"), ("vs_ort", "÷ ORT"))
        for offset, (key, label) in zip((-0.2, 0.2), peers):
            values = [r[key] if r[key] is not None else float("nan") for r in rows]
            # Bars grow from 1.0 (parity), up when numrnn is slower, down when faster.
            bars = ax.bar([x + offset for x in xs], [v - 1 for v in values], bottom=1,
                          width=0.4, label=f"numrnn {label}")
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7)
        ax.axhline(1.0, color="black", linewidth=1)
        ax.axhline(TORCH_BAR[family], color="tab:blue", linewidth=1, linestyle="--",
                   label=f"bar vs torch ({TORCH_BAR[family]:g})")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), [r["cell"] for r in rows])
        ax.set_ylabel("time ratio")
        ax.set_title(f"{family.upper()}: numrnn time / peer time (below 1 = numrnn faster)")
        ax.margins(y=0.15)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle(f"{results['machine']['cpu']}, {results['threads']} threads", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return True
