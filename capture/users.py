"""Who the scenario's programs run as, and who owns what the run writes.

Capturing needs root, but the programs under study must not run as root:
under ``sudo`` the servers and clients run as the user who typed the command
(SUDO_UID/SUDO_GID), and the bundle's files are handed to that user.
Without sudo everything simply runs as the current user.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AbortscopeError


class PrivilegeError(AbortscopeError):
    """The invoking user cannot run what the scenario needs (no python3 it may execute, ...)."""


@dataclass(frozen=True)
class User:
    """A uid/gid pair to run a child as, with the home and name it comes with."""

    uid: int
    gid: int
    home: str
    name: str

    @property
    def is_current(self) -> bool:
        """True when running as this user needs no privilege change."""
        return self.uid == os.geteuid() and self.gid == os.getegid()

    @classmethod
    def from_uid(cls, uid: int, gid: int | None = None) -> "User":
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:  # a uid with no passwd entry (containers): still a valid uid
            return cls(uid=uid, gid=uid if gid is None else gid, home="/", name=str(uid))
        return cls(uid=uid, gid=entry.pw_gid if gid is None else gid, home=entry.pw_dir, name=entry.pw_name)


def current_user() -> User:
    return User.from_uid(os.geteuid(), os.getegid())


def invoking_user() -> User:
    """The user behind ``sudo`` (SUDO_UID/SUDO_GID), else the current user.

    SUDO_* are only trusted when we really are root: a non-root process with
    a stale SUDO_UID in its environment could not switch to it anyway.
    """
    sudo_uid = os.environ.get("SUDO_UID", "")
    if os.geteuid() == 0 and sudo_uid.isdigit():
        sudo_gid = os.environ.get("SUDO_GID", "")
        return User.from_uid(int(sudo_uid), int(sudo_gid) if sudo_gid.isdigit() else None)
    return current_user()


#: who runs what needs no root when no user invoked us through sudo
UNPRIVILEGED = "nobody"


def unprivileged_user() -> User:
    """Who runs a program that needs no root (Chromium, tcpdump after it opened the device): the
    invoking user under sudo, else ``nobody``; never root. Always a user with a passwd entry
    (tcpdump's ``-Z`` and Chromium's profile need one)."""
    user = invoking_user()
    if user.uid != 0:
        try:
            pwd.getpwuid(user.uid)
            return user
        except KeyError:
            pass
    try:
        entry = pwd.getpwnam(UNPRIVILEGED)
    except KeyError as exc:
        raise PrivilegeError(f"no user {UNPRIVILEGED!r} to run unprivileged programs as: run under sudo from a user") from exc
    return User(uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir, name=entry.pw_name)


def chown_to(path: os.PathLike | str, user: User) -> None:
    """Give ``path`` to ``user`` when we are allowed to (root); a no-op otherwise."""
    if os.geteuid() == 0 and not user.is_current:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


# --- running our own program files as another user --------------------------------------
#
# Root's home is mode 0700 on Debian, so a user we dropped to can run neither
# the venv's python (it may live under /root/.pyenv) nor files inside a
# checkout or cache under /root. Program files are therefore copied to a
# fresh private directory they can read, and the interpreter is one they can
# execute. The scripts we stage are stdlib-only, so any python3 will do.

SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")


@contextlib.contextmanager
def staged_for(user: User, files: Sequence[Path]) -> Iterator[list[Path]]:
    """Paths ``user`` can read and execute for ``files``: the files themselves when no
    privilege change is involved and they share a directory (a script imports its
    helpers from beside it), else root-owned copies in one temporary directory
    removed on exit."""
    files = [Path(f) for f in files]
    if user.is_current and len({f.parent for f in files}) == 1:
        yield files
        return
    from capture.out_dir import make_staging  # here: capture.out_dir imports this module

    stage = make_staging("abortscope-stage-")  # root copies into it: never under a $TMPDIR the user controls
    try:
        stage.chmod(0o755)
        copies = []
        for source in files:
            copy = stage / source.name
            shutil.copyfile(source, copy)
            copy.chmod(0o755)
            copies.append(copy)
        yield copies
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def python_for(user: User) -> str:
    """A python3 that ``user`` can execute: ours if it can, else the system's."""
    if user.is_current:
        return sys.executable
    for candidate in (sys.executable, *SYSTEM_PYTHONS):
        if not os.path.isfile(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-I", "-S", "-c", "import socket, json, http.server"],
                user=user.uid, group=user.gid, extra_groups=[], cwd="/",
                stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return candidate
    raise PrivilegeError(f"no python3 that {user.name} (uid {user.uid}) can run: apt-get install python3")
