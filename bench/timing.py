"""Time one whole process: wall clock from spawn to reap, and its peak RSS from wait4.

ru_maxrss from wait4 is the peak resident set of the child (or of any of its
own reaped children, whichever is larger), in KiB on Linux. It is per child, so
alternating runs do not contaminate each other the way RUSAGE_CHILDREN would.

One catch: Linux carries the forking parent's RSS into the child's ru_maxrss
(at exec the old address space's high-water mark is kept), so a child of this
Python process could never report less than our own ~45 MB (`cat` would). So
the child is started through GNU time (a ~2 MB C program, package `time`),
which forks it from a small address space and reports its wait4 ru_maxrss
(%M). Without /usr/bin/time we fall back to our own wait4, and say so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")
RSS_FLOOR_NOTE = (
    "no /usr/bin/time (apt-get install time): peak RSS measured from this Python process's wait4, "
    "so it includes a floor of about our own RSS (~45 MB)"
)


def gnu_time_available() -> bool:
    return GNU_TIME.exists()


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_rss_kib: int
    returncode: int  # negative: killed by that signal
    timed_out: bool
    stdout: str  # only when captured (small outputs: the reader scripts' JSON line)
    stderr_tail: str


def run_process(argv: list[str], *, capture_stdout: bool, timeout_s: float) -> Run:
    """Run argv to completion; stdout to /dev/null unless captured (to a temp file, never a pipe)."""
    use_time = gnu_time_available()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as rss_file:  # fmt: skip
        if use_time:
            argv = [str(GNU_TIME), "-f", "%M", "-o", rss_file.name, "--", *argv]
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out if capture_stdout else subprocess.DEVNULL, stderr=err,
            start_new_session=True,  # its own process group: a timeout kills the child of GNU time too
        )
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group we just created for our own child
            except ProcessLookupError:
                pass

        watchdog = threading.Timer(timeout_s, kill_on_timeout)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall_s = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        peak_rss_kib = usage.ru_maxrss
        if use_time:
            # GNU time writes "Command exited with non-zero status N" first when it fails; %M is last.
            lines = rss_file.read().split()
            peak_rss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else peak_rss_kib
        return Run(
            wall_s=wall_s,
            peak_rss_kib=peak_rss_kib,
            returncode=proc.returncode,
            timed_out=timed_out.is_set(),
            stdout=out.read().decode(errors="replace") if capture_stdout else "",
            stderr_tail=stderr[-2000:],
        )
