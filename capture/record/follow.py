"""Copy a growing log into the bundle, each line stamped with the time it arrived.

Two kinds of source, one copier:

- ``--applog FILE``: ``tail -c 0 -F FILE`` run as the invoking user (never as
  root: a log the user cannot read is refused by the kernel, not copied by us),
  so only lines written during the recording are copied, across a rotation too;
- ``-- CMD``: the command's own stdout and stderr.

The copier thread writes the bytes as they come into the bundle file and, for
every line, the epoch ns at which it reached us into ``NAME.arrival`` (one
integer a line). Lines without a time of their own (a Python traceback) are
placed on the timeline at their arrival; see analysis.events.context.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from analysis.bundle import ARRIVAL_SUFFIX
from capture import procs
from capture.interrupts import deferred
from capture.users import User

#: after the recording, how long tail gets to copy what the server wrote last
SETTLE_S = 0.3


class FollowError(Exception):
    """A log could not be followed."""


class Copier:
    """Copies a pipe into ``out_path`` on a thread, stamping each line's arrival."""

    def __init__(self, pipe, out_path: Path) -> None:
        self.out_path = Path(out_path)
        self.arrival_ns: list[int] = []
        self.bytes = 0
        self._pipe = pipe
        self._thread = threading.Thread(target=self._copy, name=f"copy-{self.out_path.name}", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with open(self.out_path, "wb") as out:
            while True:
                try:
                    chunk = os.read(self._pipe.fileno(), 65536)
                except (OSError, ValueError):  # finish() closed the pipe: a child of the command still held it open
                    break
                if not chunk:
                    break
                now = time.time_ns()
                self.arrival_ns.extend([now] * chunk.count(b"\n"))
                out.write(chunk)
                out.flush()
                self.bytes += len(chunk)

    def finish(self, timeout_s: float = 5.0) -> None:
        """Wait for the pipe's end (its writer is gone), then write the arrival times beside the copy."""
        self._thread.join(timeout_s)
        self._pipe.close()
        Path(str(self.out_path) + ARRIVAL_SUFFIX).write_text("".join(f"{ns}\n" for ns in self.arrival_ns))

    @property
    def lines(self) -> int:
        return len(self.arrival_ns)


class LogFollower:
    """``tail -c 0 -F FILE`` as ``user``, copied into the bundle (see the module docstring)."""

    def __init__(self, path: Path, out_path: Path, user: User) -> None:
        self.path = Path(path)
        self.out_path = Path(out_path)
        self.user = user
        self.child: procs.Child | None = None
        self.copier: Copier | None = None
        self._stopped = False
        self._errors = out_path.with_name(out_path.name + ".tail-stderr")

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    def start(self, timeout_s: float = 5.0) -> None:
        """Start tail; ready once it holds the file open. FollowError (tail stopped) when it cannot."""
        if not self.path.is_file():
            raise FollowError(f"--applog {self.path}: no such file")
        with open(self._errors, "wb") as errors, deferred():
            self.child = procs.spawn(["tail", "-c", "0", "-s", "0.1", "-F", str(self.path)], user=self.user,
                                     stdout=subprocess.PIPE, stderr=errors)
        self.copier = Copier(self.child.proc.stdout, self.out_path)
        wanted = self.path.stat()
        deadline = time.monotonic() + timeout_s
        while not self._holds(wanted):
            if time.monotonic() > deadline or self.child.poll() is not None:
                said = self._errors.read_text(errors="replace").strip().splitlines()
                self.stop()
                raise FollowError(f"--applog {self.path}: cannot follow it as {self.user.name}"
                                  f" ({said[-1] if said else 'tail did not open it'})")
            time.sleep(0.01)

    def _holds(self, wanted: os.stat_result) -> bool:
        try:
            for fd in Path(f"/proc/{self.child.pid}/fd").iterdir():
                st = os.stat(fd)
                if (st.st_dev, st.st_ino) == (wanted.st_dev, wanted.st_ino):
                    return True
        except OSError:
            pass
        return False

    def stop(self) -> None:
        """Give tail a moment for the last lines, stop it (by pid), write the copy's arrival times. Idempotent."""
        if self.child is None or self._stopped:
            return
        self._stopped = True
        if self.child.poll() is None:
            time.sleep(SETTLE_S)
        self.child.terminate(grace_s=1.0)
        if self.copier is not None:
            self.copier.finish()
        self._errors.unlink(missing_ok=True)

    def status(self) -> dict:
        return {"followed": str(self.path), "file": self.out_path.name, "pid": self.pid,
                "lines": self.copier.lines if self.copier else 0, "bytes": self.copier.bytes if self.copier else 0}
