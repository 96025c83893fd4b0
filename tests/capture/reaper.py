"""Run a command as a child subreaper and report every process of it that outlived it.

    python -m tests.capture.reaper -- abortscope run --out DIR ...

Prints the command's pid on the first line, then, once the command has
exited, one JSON line: {"exit": its status, "left": [[pid, cmdline], ...]}.
A process the command started and did not stop, even one that left its
session or double-forked (Chromium's crashpad handler does), is re-parented
to us (PR_SET_CHILD_SUBREAPER) instead of to init: so "nothing of ours is
left running" is checked by pid, not by guessing names. What is left is then
killed (by those pids) and reaped, so a failing check leaves nothing either.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def _children() -> list[int]:
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> int:
    argv = sys.argv[sys.argv.index("--") + 1 :]
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    # The command stands for a job typed at a terminal, where Ctrl-C finds SIGINT at its default. A harness
    # started in the background of a non-interactive shell (CI's runner) inherits it ignored, and Python keeps
    # an ignored SIGINT ignored: until the run installs its own handling, the "Ctrl-C" would be lost.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # and not blocked, which exec would keep too
    command = subprocess.Popen(argv, start_new_session=True)
    print(command.pid, flush=True)
    code = command.wait()
    time.sleep(0.2)  # orphans are re-parented to us as their parent exits: let them arrive
    _reap_zombies()
    left = [(pid, _cmdline(pid)) for pid in _children()]
    print(json.dumps({"exit": code, "left": left}), flush=True)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in left:
        try:
            os.wait()
        except ChildProcessError:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
