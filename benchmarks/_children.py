"""Run a Python snippet in a fresh interpreter: wall time as seen from outside, its peak RSS.

Each child prints its own `ru_maxrss` (the high-water mark of its resident set) as the last
line of stdout, plus any other figures it reports on that line.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _env import child_env

# Appended to every snippet: peak RSS in KiB (Linux reports ru_maxrss in KiB).
REPORT_RSS = (
    "\nimport resource as _r\n"
    "print(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss, *globals().get('REPORT', ()))\n"
)


class ChildFailed(RuntimeError):
    """The child interpreter exited non-zero."""


def run_child(snippet: str, timeout: float = 600.0) -> tuple[float, list[float]]:
    """(wall seconds from spawn to exit, the numbers of the child's last stdout line).

    The first number is the child's peak RSS in KiB.
    """
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", snippet + REPORT_RSS],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise ChildFailed(done.stderr.strip().splitlines()[-1] if done.stderr else "no stderr")
    return wall, [float(v) for v in done.stdout.strip().splitlines()[-1].split()]
