"""Headless Chromium for the browser client: never root, no DevTools port, nothing left behind.

- **Never as root.** Chromium runs as the invoking user under sudo, and as
  ``nobody`` when we are plain root (:func:`capture.users.unprivileged_user`),
  with a throw-away profile in a fresh directory only that user can enter,
  which is also its HOME and XDG dirs, removed afterwards.
- **No DevTools port.** DevTools is opened with ``--remote-debugging-pipe``:
  Chromium reads commands on its fd 3 and answers on its fd 4 (JSON messages
  ending in NUL), two pipes only this process holds. A DevTools TCP port on
  127.0.0.1 would let any local user drive the browser (open ``file://``
  URLs as its user, for one). Closing the tab (mode ``close-tab``) is a
  ``Target.closeTarget`` sent down the pipe.
- **Stopped by pid.** It runs in a process group of its own: the browser
  process gets SIGTERM first (it stops and reaps its zygote, renderer,
  network and GPU children), then whatever is left of the group gets
  SIGKILL. Its crashpad handlers leave the group (setsid), so they are found
  by their database path inside our unique profile dir and killed by pid.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from capture.clients.spec import ClientError
from capture.interrupts import deferred
from capture.out_dir import make_staging
from capture.procs import Child, ProcessError, child_env, spawn
from capture.users import User, chown_to

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
#: A quiet, reproducible headless browser: no GPU, no first-run UI, no background traffic, no QUIC, no crash
#: reports; DevTools on a pipe only. --no-sandbox: the sandbox needs user namespaces or a setuid helper,
#: which a CI container may lack; the page it loads is our own, served on loopback.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
    "--remote-debugging-pipe",
)
#: Chromium's end of the DevTools pipe: it reads commands on fd 3 and writes answers on fd 4
DEVTOOLS_FDS = (3, 4)
TERMINATE_GRACE_S = 2.0
STARTUP_TIMEOUT_S = 20.0  #: Chromium's first start on a cold cache can take seconds


class BrowserError(ClientError):
    """Chromium is missing, did not start, or the page never made its request."""


def find_chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    raise BrowserError("the browser client needs Chromium: apt-get install chromium")


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10, so the child's shell can put it at 3 or 4 without clobbering."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevToolsPipe:
    """The Chrome DevTools Protocol over two pipes: requests with an id, answers matched by it."""

    def __init__(self) -> None:
        child_reads, self._commands = (_high_fd(fd) for fd in os.pipe())
        self._answers, child_writes = (_high_fd(fd) for fd in os.pipe())
        self.child_ends = (child_reads, child_writes)  #: to pass to Chromium as its fds 3 and 4
        self._buffer = b""
        self._next_id = 1

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run by bash, which first puts the pipe ends at fds 3 and 4 (Python cannot map fds;
        dash cannot name fds above 9)."""
        read_end, write_end = self.child_ends
        script = f'exec 3<&{read_end} 4>&{write_end} {read_end}<&- {write_end}>&- "$@"'
        return [shutil.which("bash") or "/bin/bash", "-c", script, "chromium", *argv]

    def started(self) -> None:
        """The child has its copies: close ours, so its exit shows as end of file."""
        for fd in self.child_ends:
            os.close(fd)
        self.child_ends = ()

    def call(self, method: str, params: dict | None = None, timeout_s: float = 5.0) -> dict:
        ident, self._next_id = self._next_id, self._next_id + 1
        os.write(self._commands, json.dumps({"id": ident, "method": method, "params": params or {}}).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if message.get("id") == ident:
                    if "error" in message:
                        raise BrowserError(f"DevTools {method}: {message['error']}")
                    return message.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise BrowserError(f"DevTools {method}: no answer in {timeout_s} s")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise BrowserError(f"DevTools {method}: Chromium closed its pipe")
            self._buffer += chunk

    def close(self) -> None:
        for fd in (self._commands, self._answers, *self.child_ends):
            try:
                os.close(fd)
            except OSError:
                pass
        self.child_ends = ()


class Chromium:
    """Chromium in its own process group, as an unprivileged user, with a throw-away profile that is also its HOME."""

    def __init__(self, page_url: str, user: User, startup_timeout_s: float) -> None:
        if user.uid == 0:
            raise BrowserError("refusing to run Chromium as root (capture.users.unprivileged_user gives the user)")
        self.page_url = page_url
        self.user = user
        self.startup_timeout_s = startup_timeout_s
        self.profile = make_staging("abortscope-chromium-")
        # its stdout and stderr: a file with no name, so root never opens a path inside the profile, which the
        # user owns (a chromium.log there could be swapped for a link to any file while the browser starts)
        self.log = tempfile.TemporaryFile()
        self.child: Child | None = None
        self.argv: list[str] = []
        self.devtools = DevToolsPipe()

    def start(self) -> Child:
        dirs = {name: self.profile / name for name in ("home", "config", "cache", "profile")}
        for path in dirs.values():  # made while the profile is still root's: no name in it is the user's yet
            path.mkdir(mode=0o700)
        for path in (*dirs.values(), self.profile):  # then given away, the profile last
            chown_to(path, self.user)
        env = child_env(self.user, extra={"HOME": str(dirs["home"]), "XDG_CONFIG_HOME": str(dirs["config"]),
                                          "XDG_CACHE_HOME": str(dirs["cache"])})  # fmt: skip
        self.argv = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={dirs['profile']}", self.page_url]
        try:
            with deferred():  # started and stored together: stop() always finds it
                self.child = spawn(self.devtools.wrap(self.argv), user=self.user, stdout=self.log, stderr=self.log,
                                   env=env, pass_fds=self.devtools.child_ends)  # fmt: skip
        except ProcessError as exc:
            raise BrowserError(str(exc)) from exc
        finally:
            self.devtools.started()
        return self.child

    def alive(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def log_tail(self, lines: int = 3) -> str:
        try:
            fd = self.log.fileno()  # pread: the browser writes through the same file offset
            text = os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):  # ValueError: closed by stop()
            return ""
        return " | ".join(text[-lines:])

    def close_tab(self) -> str:
        """Close the page's tab through DevTools (on the pipe); returns the closed target id."""
        targets = self.devtools.call("Target.getTargets").get("targetInfos", [])
        page_base = self.page_url.split("?", 1)[0]
        ids = [t["targetId"] for t in targets if t.get("type") == "page" and t.get("url", "").startswith(page_base)]
        if not ids:
            raise BrowserError(f"no tab with {page_base} among {len(targets)} DevTools targets")
        self.devtools.call("Target.closeTarget", {"targetId": ids[0]})
        return ids[0]

    def stop(self) -> int | None:
        """SIGTERM the browser process, then SIGKILL what is left of its group; remove the profile.

        Signalling the whole group at once kills the children before the browser
        reaps them, which leaves zombies behind. Runs to its end even on Ctrl-C.
        """
        with deferred():
            return self._stop()

    def _stop(self) -> int | None:
        code = None
        if self.child is not None:
            proc = self.child.proc
            for send, wait_s in ((proc.terminate, TERMINATE_GRACE_S), (lambda: _kill_group(proc.pid), 5.0)):
                if proc.poll() is None:
                    send()
                try:
                    code = proc.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            _kill_group(proc.pid)  # stragglers keep the group id reserved, so it is still ours
        for pid in crashpad_pids(self.profile):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.devtools.close()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        return code


def crashpad_pids(profile: Path) -> list[int]:
    """Chromium's crashpad handlers for this profile: they setsid() out of our group, so they
    are found by their --database path, which lies inside our own (unique) profile dir."""
    token = f"--database={profile}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
