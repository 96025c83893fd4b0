"""The one small interface every recorder follows, and the process plumbing they share.

A recorder is a context manager:

    start()  returns once the recorder is *ready*: anything that happens after it
             returns is recorded (the client must not connect before);
    stop()   *drains*: waits for buffered data to reach the file, stops its
             helper process, and fills in ``status``; safe to call twice, and
             called from ``__exit__`` whatever happened, so a scenario that
             enters recorders in an ExitStack tears them down in reverse order.

``status`` is what goes to ``meta["recorders"][name]``: ``{"ran": bool,
"why": str | None, ...counts}``. ``pids`` lists the helper processes a
recorder started, so the run can prove none is left behind.

Helper processes are started in their own session: a Ctrl-C in the terminal
reaches abortscope only, which then drains every recorder in order instead of
tcpdump and strace dying at the same instant as the thing they watch. A
recorder registers its helper before a Ctrl-C can strike
(:func:`capture.interrupts.deferred`), and ``stop()`` runs to its end: a
signal that comes during a drain is raised once the helper is stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

from analysis.errors import AbortscopeError
from analysis.pcap import read_packets
from capture.interrupts import deferred
from capture.procs import reset_signals_in_child, signal_group


class RecorderError(AbortscopeError):
    """A recorder could not become ready (its tool failed, tracefs refused, ...)."""


def ports_of(ports: int | tuple[int, ...]) -> tuple[int, ...]:
    """One port, or several (a proxy's and its server's), as a tuple."""
    return (ports,) if isinstance(ports, int) else tuple(ports)


class Recorder(ABC):
    #: key in meta["recorders"]
    name: str = "recorder"

    def __init__(self) -> None:
        self.status: dict = {"ran": False, "why": "not started"}
        self._started = False
        self._stopped = False

    @property
    def pids(self) -> list[int]:
        return []

    def start(self) -> None:
        """Become ready. If that fails (or is interrupted), whatever was started is stopped again."""
        self._started = True
        try:
            self._start()
        except BaseException as exc:
            self.status.update(ran=False, why=f"failed to start: {exc or type(exc).__name__}")
            self.stop()  # no helper process left behind by a half-done start
            raise
        self.status.update(ran=True, why=None)

    def stop(self) -> None:
        if not self._started or self._stopped:
            return
        self._stopped = True
        with deferred():  # a Ctrl-C now is raised after the drain: no helper left running, the tail kept
            try:
                self._stop()
            except Exception as exc:  # drain errors are recorded, never hide the run's own error
                self.status["drain_error"] = str(exc)
            finally:
                self._check_output()

    def _check_output(self) -> None:
        """A recorder whose file is missing after the drain did not record, whatever its start said (a tracefs
        instance removed under it, a tool that died): meta.json must not claim a file the bundle lacks."""
        out_path = getattr(self, "out_path", None)
        if self.status.get("ran") and out_path is not None and not Path(out_path).exists():
            self.status.update(ran=False, why=f"{Path(out_path).name} was not written at the drain"
                               + (f": {self.status['drain_error']}" if self.status.get("drain_error") else ""))

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None: ...

    def __enter__(self) -> "Recorder":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class HelperProcess:
    """A recorder's tool (tcpdump, dumpcap, strace) with its stderr read on a thread.

    stderr goes through a pipe drained by a daemon thread, so a chatty tool can
    never block on a full pipe and readiness lines can be awaited.
    """

    def __init__(self, argv: list[str], *, stdout=subprocess.DEVNULL) -> None:
        """Start ``argv``; call it inside ``deferred()`` together with storing the object."""
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # tcpdump/strace are stopped with SIGINT: a shell or job that ignores it must not pass that on
            preexec_fn=reset_signals_in_child,
        )
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_stderr, name=f"stderr-{argv[0]}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._cond:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stderr_lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def wait_for_line(self, pattern: str, timeout_s: float, count: int = 1) -> list[re.Match]:
        """Block until `count` stderr lines match `pattern`; RecorderError if the tool exits or time runs out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [m for m in map(regex.search, self._lines) if m]
                if len(found) >= count:
                    return found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RecorderError(f"{self.argv[0]} exited ({self.proc.returncode}): {self._tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RecorderError(f"{self.argv[0]} not ready after {timeout_s} s: {self._tail()}")
                self._cond.wait(min(left, 0.05))

    def _tail(self) -> str:
        return " | ".join(self._lines[-3:]) or "no output"

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 5.0) -> int | None:
        """Send `sig`, wait; escalate to SIGTERM then SIGKILL; then SIGKILL what is left of its session.
        Returns the exit code.

        What is left: strace forks a child at start-up to probe ptrace; strace killed at that
        moment leaves the child stopped, for ever, in strace's session (pgid = strace's pid,
        which the kernel does not hand out again while the group has members)."""
        for attempt in (sig, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.kill(self.proc.pid, attempt)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout_s if attempt != signal.SIGKILL else 10)
            except subprocess.TimeoutExpired:
                continue
        signal_group(self.proc.pid, signal.SIGKILL)
        self._reader.join(2.0)
        return self.proc.returncode


def count_capture_records(path: Path) -> int:
    """Records in a pcap or pcapng file, counted by the analyzer's reader.

    A check of what the capture backend says it wrote, by another program than
    the backend; a torn last record is not counted.
    """
    try:
        _, report = read_packets(path)
    except AbortscopeError as exc:
        raise RecorderError(f"{path}: {exc}") from exc
    return report.records
