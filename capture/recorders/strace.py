"""strace of the server: the syscalls that move bytes or end a connection, and signals.

We attach to the running server (`-p PID` after it listens) rather than start
it under strace, so the server is started the same way with or without us.
`-f -p PID` attaches to every thread of the process (a Go program has
several) and follows new ones. `-yy` prints the socket's 4-tuple next to each
fd, which ties a syscall to its connection.

Ready = strace said "Process PID attached" and /proc/PID/status shows a
tracer on every thread. Drain = SIGINT, on which strace detaches and flushes
its output file.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path

from analysis.events.strace import TRACED_SYSCALLS
from capture.interrupts import deferred
from capture.recorders.base import HelperProcess, Recorder, RecorderError


def strace_argv(pid: int | Sequence[int], out_path: Path) -> list[str]:
    pids = [pid] if isinstance(pid, int) else list(pid)
    return [
        "strace", "-f", "-ttt", "-T", "-yy",
        "-e", "trace=" + ",".join(TRACED_SYSCALLS),
        "-e", "signal=all",
        "-o", str(out_path),
        *(arg for p in pids for arg in ("-p", str(p))),
    ]  # fmt: skip


def _threads(pid: int) -> list[int]:
    try:
        return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except FileNotFoundError:
        return []


def _tracer_of(tid: int) -> int:
    try:
        for line in Path(f"/proc/{tid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


class StraceRecorder(Recorder):
    name = "strace"

    def __init__(self, pid: int, out_path: Path, also: Sequence[int] = ()) -> None:
        """Trace ``pid`` and the processes ``also`` (e.g. the workers it forked before we attached)."""
        super().__init__()
        self.traced_pid = pid
        self.traced_pids = [pid, *(p for p in also if p != pid)]
        self.out_path = Path(out_path)
        self._helper: HelperProcess | None = None
        self.status.update(file=self.out_path.name, traced_pid=pid, syscalls=list(TRACED_SYSCALLS))
        if len(self.traced_pids) > 1:
            self.status["traced_pids"] = self.traced_pids

    @property
    def pids(self) -> list[int]:
        return [self._helper.pid] if self._helper else []

    def _start(self) -> None:
        with deferred():  # started and stored together: stop() always finds it
            self._helper = HelperProcess(strace_argv(self.traced_pids, self.out_path))
        self.status["pid"] = self._helper.pid
        for pid in self.traced_pids:
            self._helper.wait_for_line(rf"Process {pid} attached", timeout_s=10)
        deadline = time.monotonic() + 5
        while True:
            threads = [t for pid in self.traced_pids for t in _threads(pid)]
            untraced = [t for t in threads if _tracer_of(t) != self._helper.pid]
            if threads and not untraced:
                self.status["threads_attached"] = len(threads)
                return
            if time.monotonic() > deadline:
                raise RecorderError(f"strace did not attach to threads {untraced} of pids {self.traced_pids}")
            time.sleep(0.01)

    def _stop(self) -> None:
        if self._helper is None:  # start failed before the tool ran
            return
        self.status["exit_code"] = self._helper.stop(signal.SIGINT)
        if self.out_path.exists():
            self.status["lines"] = sum(1 for _ in self.out_path.open(errors="replace"))
