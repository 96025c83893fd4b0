"""Local users for the privilege tests: a throw-away account (useradd), removed afterwards."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess

import pytest

from capture.users import User
from tests import conftest


@pytest.fixture(scope="session")
def local_user():
    """A fresh unprivileged account (the user who typed `sudo abortscope ...`, or a hostile neighbour)."""
    conftest.require_root()
    conftest.require_tools("useradd", "userdel")
    name = f"abtest-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
                   check=True, capture_output=True)  # fmt: skip
    entry = pwd.getpwnam(name)
    try:
        yield User(uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir, name=name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def as_sudo_from(monkeypatch):
    """Make this process look like `sudo` run by ``user`` (SUDO_UID/SUDO_GID), as the harness reads it."""

    def become(user: User) -> User:
        monkeypatch.setenv("SUDO_UID", str(user.uid))
        monkeypatch.setenv("SUDO_GID", str(user.gid))
        monkeypatch.setenv("SUDO_USER", user.name)
        return user

    return become


def run_as(user: User, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """``argv`` as ``user`` (setpriv: no supplementary groups), from /, output captured."""
    command = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", *argv]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    return subprocess.run(command, capture_output=True, text=True, cwd="/", env=env, timeout=60, **kwargs)
