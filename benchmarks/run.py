"""numrnn's benchmark suite: one command, the grid of BENCHMARKS.md, torch and ORT side by side.

    python benchmarks/run.py                  # full grid, cold start, long-sequence memory
    python benchmarks/run.py --quick          # tiny grid, few repeats, no long-sequence memory
    python benchmarks/run.py --quick --no-coldstart   # what CI runs
    python benchmarks/run.py --families lstm,gru --cells small,large

Writes benchmarks/results/latest.{json,md,png} (`--quick`: quick.*) and prints the table.
Never a test: nothing here fails because the machine is slow; the exit status is non-zero
only when something crashed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _env import REPO, reexec_without_blas_overrides

# Must happen before NumPy loads OpenBLAS; only this process and its children are affected.
REEXEC_NOTE = reexec_without_blas_overrides()
sys.path.insert(1, str(REPO))  # numrnn from this checkout, installed or not

import datetime  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

import _env  # noqa: E402
import _report  # noqa: E402
import coldstart  # noqa: E402
import memory  # noqa: E402
from _bars import coldstart_checks, family_summary  # noqa: E402
from _grid import CELLS, FAMILIES, GRID, QUICK_CELLS  # noqa: E402
from _measure import measure  # noqa: E402
from _peers import Skip, ort_available, scratch_dir  # noqa: E402
from _timing import gemm_gflops  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; expected some of {known}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny grid, few repeats (< 2 min)")
    p.add_argument("--families", type=lambda s: _names(s, FAMILIES, "family"),
                   help=f"comma-separated subset of {','.join(FAMILIES)}")
    p.add_argument("--cells", type=lambda s: _names(s, list(CELLS), "cell"),
                   help=f"comma-separated subset of {','.join(CELLS)}")
    p.add_argument("--threads", type=int, default=_env.default_threads(),
                   help="threads for every engine (default: usable CPUs)")
    p.add_argument("--json", type=Path, help="JSON output (default results/latest.json)")
    p.add_argument("--md", type=Path, help="markdown table output (default results/latest.md)")
    p.add_argument("--plot", type=Path, help="PNG plot output (default results/latest.png)")
    p.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    p.add_argument("--no-coldstart", action="store_true", help="skip the cold-start figures")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the long-sequence memory (always skipped with --quick)")
    args = p.parse_args(argv)
    stem = "quick" if args.quick else "latest"
    args.json = args.json or RESULTS / f"{stem}.json"
    args.md = args.md or RESULTS / f"{stem}.md"
    args.plot = args.plot or RESULTS / f"{stem}.png"
    args.families = args.families or list(FAMILIES)
    args.cells = args.cells or (list(QUICK_CELLS) if args.quick else [c.name for c in GRID])
    return args


def run_grid(args: argparse.Namespace, with_ort: bool, gemm: float) -> tuple[list, list, bool]:
    """Every requested (family, cell) row; notes; whether anything crashed."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    crashed = False
    cells = [c for c in GRID if c.name in args.cells]
    with scratch_dir() as tmp:
        for family in args.families:
            for cell in cells:
                try:
                    row = measure(family, cell, threads=args.threads, workdir=Path(tmp),
                                  with_ort=with_ort, gemm_gflops=gemm, quick=args.quick)
                except Skip as exc:
                    notes.append(f"{family} skipped: {exc}")
                    print(f"  {family:4} skipped: {exc}", flush=True)
                    break
                except Exception as exc:  # noqa: BLE001 - report it, measure the rest
                    crashed = True
                    notes.append(f"{family}/{cell.name} crashed: {exc!r}")
                    traceback.print_exc()
                    continue
                rows.append(row)
                notes.extend(row["notes"])
                print(f"  {family:4} {cell.name:8} numrnn {row['numrnn_ms']:9.3f} ms  "
                      f"x torch {row['vs_torch']:6.2f}  x ORT {_fmt(row['vs_ort'])}  "
                      f"max diff {row['max_diff']:.1e}  {row['verdict']}", flush=True)
    return rows, notes, crashed


def _fmt(value: float | None) -> str:
    return "     —" if value is None else f"{value:6.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notes = [REEXEC_NOTE] if REEXEC_NOTE else []
    notes += _env.set_threads(args.threads)
    with_ort = not args.no_ort and ort_available()
    if not args.no_ort and not with_ort:
        notes.append("onnxruntime not installed: ORT columns skipped")
    machine = _env.machine()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; numpy {machine['numpy']}, "
          f"torch {machine['torch']}, onnxruntime {machine['onnxruntime']}")
    for blas in machine["blas"]:
        print(f"NumPy BLAS: {blas['internal_api']} {blas['version']}, kernel "
              f"{blas['architecture']}, {blas['num_threads']} threads")
    busy = _env.busy_cpus()
    if busy is not None and busy > 0.25:
        print(f"warning: other work keeps {busy:.2f} CPUs busy; it skews the figures")
    gemm = gemm_gflops()
    print(f"GEMM peak: {gemm:.1f} GFLOP/s at {args.threads} threads", flush=True)

    rows, grid_notes, crashed = run_grid(args, with_ort, gemm)
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "quick": args.quick,
        "machine": machine,
        "threads": args.threads,
        "gemm_gflops": gemm,
        "busy_cpus": {"start": busy, "end": None},
        "rows": rows,
        "families": [family_summary(rows, f) for f in args.families],
        "notes": notes + grid_notes,
    }
    if not args.no_coldstart:
        print("cold start ...", flush=True)
        with scratch_dir() as tmp:
            cold = coldstart.measure(Path(tmp), repeats=3 if args.quick else 7, with_ort=with_ort)
        cold["checks"] = coldstart_checks(cold["engines"])
        results["coldstart"] = cold
        results["notes"] += cold["notes"]
    if args.quick and not args.no_memory:
        results["notes"].append("--quick: long-sequence memory skipped (run without --quick)")
    elif not args.no_memory:
        print("long-sequence memory ...", flush=True)
        results["memory"] = memory.measure()
        results["notes"] += results["memory"]["notes"]

    results["busy_cpus"]["end"] = _env.busy_cpus()
    _report.write_json(results, args.json)
    _report.write_markdown(results, args.md)
    plotted = _report.write_plot(results, args.plot)
    print()
    print(_report.markdown(results))
    print(f"wrote {args.json}, {args.md}" + (f", {args.plot}" if plotted else " (no plot)"))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
