"""Build the Go server with the system `go`, once per source version.

The binary lives in a cache directory under a name that carries a hash of
the source and of `go version`, so it is rebuilt exactly when one of them
changes. The build runs as the current user (root under sudo) into that
user's cache; a server that must run as another user gets a copy staged in
a private temporary directory (see :mod:`capture.servers.staging`), because
root's home is not readable by anyone else.

The build is hermetic enough for CI: GOCACHE/GOPATH point into the cache
directory (HOME may be odd or read-only), GOFLAGS/GOENV from the
environment are ignored, no network (GOPROXY=off: the program is stdlib
only), CGO is off so no C compiler is needed, and no VCS stamping (git may
refuse a checkout owned by another user).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from capture.procs import ProcessError, running
from capture.servers.errors import ServerError

SOURCE_FILES = ("main.go", "go.mod")
BUILD_ARGS = ("build", "-trimpath", "-buildvcs=false")
BUILD_TIMEOUT_S = 300


def go_source_dir() -> Path:
    return Path(str(resources.files("capture.servers") / "go"))


def cache_root() -> Path:
    """abortscope's cache directory for the current user, created if needed.

    Under sudo the environment may still carry the invoking user's HOME or
    XDG_CACHE_HOME; root never writes there: it uses its own home from the
    password database. An unusable home falls back to a private temp dir.
    """
    under_sudo = os.geteuid() == 0 and "SUDO_UID" in os.environ
    xdg = None if under_sudo else os.environ.get("XDG_CACHE_HOME")
    home = pwd.getpwuid(os.geteuid()).pw_dir if under_sudo else os.path.expanduser("~")
    candidates = [Path(xdg) / "abortscope"] if xdg else []
    candidates += [Path(home) / ".cache" / "abortscope", Path(tempfile.gettempdir()) / f"abortscope-cache-{os.geteuid()}"]
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = path.lstat()  # not stat(): a link planted at a fixed name in /tmp must not pass for our directory
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and os.access(path, os.W_OK | os.X_OK):
                return path
        except OSError:
            continue
    raise ServerError(f"no writable cache directory for the Go build (tried {', '.join(map(str, candidates))})")


def go_binary() -> str:
    go = shutil.which("go") or next((p for p in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go") if os.access(p, os.X_OK)), None)
    if go is None:
        raise ServerError("the go server needs Go: apt-get install golang-go")
    return go


def _go_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") or k == "GOROOT"}
    env.update(
        GOCACHE=str(cache / "go-build"),
        GOPATH=str(cache / "gopath"),
        GOENV="off",
        GOFLAGS="",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GO111MODULE="on",
        CGO_ENABLED="0",
    )
    if not os.access(env.get("HOME", "/nonexistent"), os.W_OK):  # go wants a HOME; CI's may be odd
        env["HOME"] = str(cache)
    return env


def source_hash(go: str, env: dict[str, str]) -> str:
    digest = hashlib.sha256(" ".join(BUILD_ARGS).encode() + b"\0")
    for name in SOURCE_FILES:
        digest.update(name.encode() + b"\0" + (go_source_dir() / name).read_bytes() + b"\0")
    version = subprocess.run([go, "version"], capture_output=True, text=True, env=env, timeout=30)
    digest.update(version.stdout.encode())
    return digest.hexdigest()[:16]


def _binary_path() -> tuple[str, dict[str, str], Path]:
    go = go_binary()
    cache = cache_root()
    env = _go_env(cache)
    return go, env, cache / f"go-server-{source_hash(go, env)}"


def is_built() -> bool:
    """True when the server binary for this source and this Go is already in the cache (no build to wait for)."""
    try:
        return _binary_path()[2].is_file()
    except (ServerError, OSError, subprocess.SubprocessError):
        return False


def ensure_go_server() -> Path:
    """Path of the built server binary, building it when the source (or Go) changed."""
    go, env, binary = _binary_path()
    if binary.is_file():
        return binary
    with open(binary.parent / "go-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run may be building the same binary
        if binary.is_file():
            return binary
        partial = binary.with_name(binary.name + f".partial-{os.getpid()}")
        try:
            _build(go, env, partial)
            partial.chmod(0o755)
            os.replace(partial, binary)
        finally:
            partial.unlink(missing_ok=True)
        for stale in binary.parent.glob("go-server-*"):  # builds of older sources
            if stale != binary and ".partial-" not in stale.name:
                stale.unlink(missing_ok=True)
    return binary


def _build(go: str, env: dict[str, str], output: Path) -> None:
    """`go build` in a process group of its own: a Ctrl-C stops go and the compilers it started, not just go."""
    with tempfile.TemporaryFile() as errors:
        with running([go, *BUILD_ARGS, "-o", str(output), "."], cwd=go_source_dir(), env=env, stderr=errors) as build:
            try:
                code = build.wait(BUILD_TIMEOUT_S)
            except ProcessError as exc:
                raise ServerError(f"go build did not finish in {BUILD_TIMEOUT_S} s") from exc
        if code != 0:
            errors.seek(0)
            raise ServerError(f"go build of {go_source_dir()} failed:\n{errors.read().decode(errors='replace').strip()}")
