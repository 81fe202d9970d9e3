"""Run a Python snippet in a fresh interpreter: wall time as seen from outside, its peak RSS.

Each child prints its own peak RSS as the last line of stdout, plus any other figures it
reports on that line. On Linux the peak is `VmHWM` from /proc/self/status: `ru_maxrss`
survives fork+exec, so a child of a big benchmark process would report the parent's size.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _env import child_env

# Defined first in every snippet: the peak RSS so far, in KiB.
PEAK_RSS = """
def _peak_kib():
    try:
        with open('/proc/self/status') as f:
            return int(next(l for l in f if l.startswith('VmHWM:')).split()[1])
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
"""
# Appended to every snippet: the peak, then whatever the snippet put in REPORT.
REPORT_RSS = "\nprint(_peak_kib(), *globals().get('REPORT', ()))\n"


class ChildFailed(RuntimeError):
    """The child interpreter exited non-zero."""


def run_child(snippet: str, timeout: float = 600.0) -> tuple[float, list[float]]:
    """(wall seconds from spawn to exit, the numbers of the child's last stdout line).

    The first number is the child's peak RSS in KiB.
    """
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS + snippet + REPORT_RSS],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise ChildFailed(done.stderr.strip().splitlines()[-1] if done.stderr else "no stderr")
    return wall, [float(v) for v in done.stdout.strip().splitlines()[-1].split()]
