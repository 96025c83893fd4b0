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
from pathlib import Path

from analysis.events.strace import TRACED_SYSCALLS
from capture.interrupts import deferred
from capture.recorders.base import HelperProcess, Recorder, RecorderError


def strace_argv(pid: int, out_path: Path) -> list[str]:
    return [
        "strace", "-f", "-ttt", "-T", "-yy",
        "-e", "trace=" + ",".join(TRACED_SYSCALLS),
        "-e", "signal=all",
        "-o", str(out_path),
        "-p", str(pid),
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

    def __init__(self, pid: int, out_path: Path) -> None:
        super().__init__()
        self.traced_pid = pid
        self.out_path = Path(out_path)
        self._helper: HelperProcess | None = None
        self.status.update(file=self.out_path.name, traced_pid=pid, syscalls=list(TRACED_SYSCALLS))

    @property
    def pids(self) -> list[int]:
        return [self._helper.pid] if self._helper else []

    def _start(self) -> None:
        with deferred():  # started and stored together: stop() always finds it
            self._helper = HelperProcess(strace_argv(self.traced_pid, self.out_path))
        self.status["pid"] = self._helper.pid
        self._helper.wait_for_line(rf"Process {self.traced_pid} attached", timeout_s=10)
        deadline = time.monotonic() + 5
        while True:
            threads = _threads(self.traced_pid)
            untraced = [t for t in threads if _tracer_of(t) != self._helper.pid]
            if threads and not untraced:
                self.status["threads_attached"] = len(threads)
                return
            if time.monotonic() > deadline:
                raise RecorderError(f"strace did not attach to threads {untraced} of pid {self.traced_pid}")
            time.sleep(0.01)

    def _stop(self) -> None:
        if self._helper is None:  # start failed before the tool ran
            return
        self.status["exit_code"] = self._helper.stop(signal.SIGINT)
        if self.out_path.exists():
            self.status["lines"] = sum(1 for _ in self.out_path.open(errors="replace"))
