"""Child processes the harness starts (servers, clients), and the loopback ports they use.

Every child is started the same way, because each of these has bitten a
scenario run:

- **as the invoking user** (:mod:`capture.users`): under sudo the programs
  under study run as SUDO_UID/SUDO_GID with no supplementary groups, never as
  root;
- **with SIGINT (and SIGQUIT/SIGTERM) at their defaults and no signal
  blocked**: a child of a non-interactive shell or of a background job
  inherits SIGINT as *ignored* (POSIX: exec keeps ignored dispositions), and
  a curl that ignores SIGINT cannot be "Ctrl-C'd" by the harness. The reset
  runs in the child between fork and exec; :func:`ignored_signals` reads
  /proc/PID/status SigIgn to prove it;
- **in a process group of its own** (pgid = its pid): a Ctrl-C in the
  terminal reaches abortscope only, which tears everything down in order,
  and teardown can signal exactly the group it created. Nothing is ever
  killed by name;
- **registered for teardown before a Ctrl-C can strike**: :func:`running`
  starts the child and puts it on its clean-up stack with SIGINT/SIGTERM
  held (:func:`capture.interrupts.deferred`), and :meth:`Child.terminate`
  runs to its end before a signal that came meanwhile is raised.

Readiness of a server is checked without touching it: :func:`wait_listening`
watches /proc/net/tcp{,6} for the LISTEN socket, so no probe connection ends
up in the capture or the server's log. :func:`wait_for_port` (a real
connect) is there for programs we do not start.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import AbortscopeError
from capture.interrupts import deferred
from capture.users import User, current_user

#: Signals whose disposition the child gets back at their default.
RESET_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
#: /proc/net/tcp "st" column values we look at (include/net/tcp_states.h).
TCP_LISTEN = "0A"
TCP_ESTABLISHED = "01"


class ProcessError(AbortscopeError):
    """A child could not be started, or did not become ready in time."""


def reset_signals_in_child() -> None:  # runs between fork and exec: keep it tiny
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


@dataclass
class Child:
    """A process we started: its pid is also its process group id."""

    argv: list[str]
    proc: subprocess.Popen
    user: User
    started_ns: int
    returncode: int | None = field(default=None, init=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        self.returncode = self.proc.poll()
        return self.returncode

    def wait(self, timeout_s: float | None = None) -> int:
        """Exit status (negative: killed by that signal); ProcessError on timeout."""
        try:
            self.returncode = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise ProcessError(f"{self.argv[0]} (pid {self.pid}) still running after {timeout_s} s") from exc
        return self.returncode

    def send_signal(self, sig: int) -> bool:
        """Signal the child itself (not its group); False when it is already gone."""
        if self.proc.poll() is not None:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, grace_s: float = 3.0) -> int | None:
        """SIGTERM the group we created, wait up to ``grace_s``, then SIGKILL it. Idempotent.

        The group is signalled while its leader is not yet reaped, so its id
        cannot have been reused; after the leader is reaped, members left in
        the group (a wrapper's children) still keep the id reserved.
        """
        with deferred():  # a Ctrl-C meanwhile is raised once the group is gone
            return self._terminate(grace_s)

    def _terminate(self, grace_s: float) -> int | None:
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            signal_group(self.pid, sig)
            try:
                self.returncode = self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
            break
        signal_group(self.pid, signal.SIGKILL)  # stragglers of a wrapped command
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.returncode


def signal_group(pgid: int, sig: int) -> None:
    """Signal the process group ``pgid`` (a group we created); nothing when it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def child_env(user: User, extra: dict[str, str] | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child running as ``user``: ours, with HOME/USER/LOGNAME of that user."""
    env = dict(os.environ if base is None else base)
    if not user.is_current:
        env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
        for key in ("SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
            env.pop(key, None)
    env.update(extra or {})
    return env


def spawn(
    argv: Sequence[str],
    *,
    user: User | None = None,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    pass_fds: Sequence[int] = (),
) -> Child:
    """Start ``argv`` as ``user`` (default: the current user), signals reset, in its own process group.

    Dropping to another user needs root; asking for it without root is a
    ProcessError rather than a child silently running as someone else.
    """
    user = user or current_user()
    drop = {}
    if not user.is_current:
        if os.geteuid() != 0:
            raise ProcessError(f"cannot run {argv[0]} as {user.name} (uid {user.uid}): that needs root")
        drop = dict(user=user.uid, group=user.gid, extra_groups=[])
    started_ns = time.time_ns()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env if env is not None else child_env(user),
            cwd=cwd if cwd is not None else "/",
            process_group=0,
            preexec_fn=reset_signals_in_child,
            close_fds=True,
            pass_fds=tuple(pass_fds),
            **drop,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProcessError(f"cannot start {argv[0]}: {exc}") from exc
    return Child(argv=list(argv), proc=proc, user=user, started_ns=started_ns)


@contextlib.contextmanager
def running(argv: Sequence[str], *, grace_s: float = 3.0, **spawn_args) -> Iterator[Child]:
    """:func:`spawn` as a context manager: the child's group is terminated in ``finally``.

    Start and registration happen with SIGINT/SIGTERM held: a Ctrl-C at that
    moment is raised right after, when the child is already terminated on the way out.
    """
    with contextlib.ExitStack() as stack:
        with deferred():
            child = spawn(argv, **spawn_args)
            stack.callback(child.terminate, grace_s)
        yield child


# --- /proc: signals, liveness, owners -------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict ({} when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def ignored_signals(pid: int) -> set[signal.Signals]:
    """The signals ``pid`` ignores, decoded from the SigIgn mask (bit n-1 = signal n)."""
    mask = int(proc_status(pid).get("SigIgn", "0"), 16)
    return {signal.Signals(n) for n in range(1, 65) if mask >> (n - 1) & 1 and n in signal.valid_signals()}


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    state = proc_status(pid).get("State", "")
    return bool(state) and not state.startswith(("Z", "X"))


def wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (through /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_child_pids(current))
    return found


def _child_pids(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):  # the process (or a thread) may go while it is listed: ESRCH from the glob
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in task.read_text().split())
    return found


def children(pid: int | None = None) -> set[int]:
    """The running (not zombie) direct children of ``pid`` (default: this process)."""
    return {c for c in _child_pids(os.getpid() if pid is None else pid) if is_running(c)}


def kill_stray(pid: int) -> None:
    """SIGKILL a child of ours that nothing stopped (its group too, when it leads one), and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


# --- loopback ports ----------------------------------------------------------------------


def format_addr(host: str, port: int) -> str:
    """``ip:port``, IPv6 in brackets: the address form of app.jsonl and the timeline's flows."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` right now (127.0.0.1 or ::1)."""
    with socket.socket(family_of(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    """Block until ``host:port`` accepts a connection. This connects: the peer sees it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ProcessError(f"nothing accepts connections on {format_addr(host, port)} after {timeout_s} s") from exc
            time.sleep(0.02)


@dataclass(frozen=True)
class TcpSocket:
    """One row of /proc/net/tcp{,6}."""

    local: str  # ip:port, IPv6 bracketed
    remote: str
    state: str  # hex code, see TCP_LISTEN
    inode: int


def _decode_proc_addr(field_text: str) -> tuple[str, int]:
    hex_ip, hex_port = field_text.split(":")
    raw = bytes.fromhex(hex_ip)
    # the kernel prints each 32-bit word of the address in host (little-endian) order
    ip = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(hex_port, 16)


def tcp_sockets() -> list[TcpSocket]:
    """Every TCP socket of this network namespace, IPv4 and IPv6."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if len(cols) < 10:
                    continue
                rows.append(
                    TcpSocket(
                        local=format_addr(*_decode_proc_addr(cols[1])),
                        remote=format_addr(*_decode_proc_addr(cols[2])),
                        state=cols[3],
                        inode=int(cols[9]),
                    )
                )
    return rows


def listeners_on(host: str, port: int) -> list[TcpSocket]:
    wanted = {format_addr(host, port)}
    if ipaddress.ip_address(host).version == 4:
        wanted.add(format_addr("0.0.0.0", port))
    wanted.add(format_addr("::", port))
    return [s for s in tcp_sockets() if s.state == TCP_LISTEN and s.local in wanted]


def wait_listening(host: str, port: int, *, owner: int | None = None, timeout_s: float = 10.0) -> int | None:
    """Block until something LISTENs on ``host:port``; with ``owner``, return the pid owning it.

    ``owner`` is the process we started: the listener is looked for in it and
    its descendants (a wrapper such as ``strace -f`` forks the real server),
    and a ProcessError is raised as soon as that process has exited.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        inodes = {s.inode for s in listeners_on(host, port)}
        if inodes and owner is None:
            return None
        if inodes:
            for pid in descendants(owner):
                if socket_inodes(pid) & inodes:
                    return pid
        if owner is not None and not is_running(owner):
            raise ProcessError(f"pid {owner} exited before listening on {format_addr(host, port)}")
        if time.monotonic() > deadline:
            raise ProcessError(f"nothing listens on {format_addr(host, port)} after {timeout_s} s")
        time.sleep(0.01)


def connections_of(pid: int) -> list[TcpSocket]:
    """The connected (non-LISTEN) TCP sockets ``pid`` holds: their local/remote addresses."""
    mine = socket_inodes(pid)
    return [s for s in tcp_sockets() if s.inode in mine and s.state != TCP_LISTEN]
