"""`abortscope run` as a user types it: a subprocess of the installed command, as root or "under sudo"."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from capture.users import User

ABORTSCOPE = Path(sys.executable).parent / "abortscope"
#: a short scenario: the handler sleeps 0.3 s, the client aborts at 0.1 s
QUICK = ("--handler-delay", "0.3", "--abort-after", "0.1")


def run_env(sudo_from: User | None = None) -> dict[str, str]:
    """Our environment, plus SUDO_UID/SUDO_GID/SUDO_USER as sudo sets them when ``sudo_from`` typed the command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    if sudo_from is not None:
        env.update(SUDO_UID=str(sudo_from.uid), SUDO_GID=str(sudo_from.gid), SUDO_USER=sudo_from.name)
    return env


def start_run(out: Path, *args: str, sudo_from: User | None = None, command: str = "run") -> subprocess.Popen:
    """``abortscope run --out OUT ARGS`` started in a session of its own (a signal to it reaches it alone)."""
    return subprocess.Popen(
        [str(ABORTSCOPE), command, "--out", str(out), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=run_env(sudo_from),
    )  # fmt: skip


def run_cli(out: Path, *args: str, sudo_from: User | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess:
    run = start_run(out, *args, sudo_from=sudo_from)
    stdout, stderr = run.communicate(timeout=timeout_s)
    return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): relative path -> (type, uid, gid, mode, content or target)."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            what = ("file", path.read_bytes())
        else:
            what = ("dir", None)
        found[str(path.relative_to(root))] = (what[0], st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), what[1])
    return found
