"""The benchmark process's environment: a clean BLAS setup, equal threads, the machine's name.

`reexec_without_blas_overrides` must run before NumPy is imported, so this module imports
NumPy and the peers lazily, inside the functions that need them.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

# Variables that pin OpenBLAS to a slower kernel or a wrong cache size. Other tools in this
# repo may set them on purpose; the benchmark drops them for its own process only.
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_REEXEC_MARK = "NUMRNN_BENCH_REEXECED"

REPO = Path(__file__).resolve().parent.parent


def reexec_without_blas_overrides() -> str | None:
    """Restart this interpreter once without BLAS_OVERRIDES if any of them is set.

    Returns a note for the report in the restarted process, None if nothing was done.
    """
    found = [name for name in BLAS_OVERRIDES if name in os.environ]
    if not found:
        if os.environ.pop(_REEXEC_MARK, None):
            note = f"re-executed without {', '.join(BLAS_OVERRIDES)} so NumPy picks its own kernel"
            print(f"note: {note}")
            return note
        return None
    if os.environ.get(_REEXEC_MARK):
        raise RuntimeError(f"{found} still set after re-exec")  # would loop forever
    env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
    env[_REEXEC_MARK] = "1"
    print(f"note: {', '.join(f'{k}={os.environ[k]}' for k in found)} set; re-executing without")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def child_env() -> dict[str, str]:
    """Environment for fresh child interpreters: ours, with the repo importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def default_threads() -> int:
    """All CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


_limits: Any = None  # keeps threadpoolctl's limiter alive for the whole run


def set_threads(threads: int) -> list[str]:
    """Give NumPy's BLAS and torch the same thread count; return notes on what was done."""
    global _limits
    notes = []
    try:
        from threadpoolctl import threadpool_limits

        _limits = threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        notes.append("threadpoolctl not installed: NumPy's BLAS threads left as they are")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    return notes


def blas_info() -> list[dict[str, Any]]:
    """What threadpoolctl reports for NumPy's BLAS (library, kernel, threads)."""
    try:
        import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("internal_api", "architecture", "num_threads", "version", "prefix")
    return [
        {k: info.get(k) for k in keys} for info in threadpool_info() if info["user_api"] == "blas"
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cpus(seconds: float = 1.0) -> float | None:
    """CPUs kept busy by other work, sampled over `seconds` while this process sleeps.

    Better than the load average, which still counts this suite's own previous seconds.
    """
    import time

    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


def machine() -> dict[str, Any]:
    """The machine and software versions the numbers were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": default_threads(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "blas": blas_info(),
    }
