"""The servers under study, each started on a loopback port and torn down reliably.

    with start_server(ServerSpec(impl="go", size=8061, app_log=bundle / "app.jsonl")) as server:
        server.pid, server.host, server.port, server.url   # ready: it listens
    # here the server's process group is gone and the port is free

Implementations (:data:`SERVERS`): ``go`` (the user's net/http program),
``python`` (http.server), ``python-raw`` (socket sends of ``write_size``),
``node`` (http module). Each appends one JSON line per event to
``spec.app_log`` (the app.jsonl format of :mod:`analysis.bundle`: request,
write, write_error, response, ...); its stderr (Go's ``log.Println`` lines,
UTC with microseconds) goes to ``spec.server_log``.

Under sudo the server runs as the invoking user, from a staged copy of its
program (see :mod:`capture.users`). Readiness is seen in /proc/net/tcp, so
no probe connection reaches the server or the capture.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from capture.interrupts import deferred
from capture.procs import Child, ProcessError, format_addr, free_port, spawn, wait_listening
from capture.servers.errors import ServerError
from capture.servers.events import read_app_events, wait_for_event
from capture.servers.launchers import LAUNCHERS, Launcher
from capture.servers.spec import ServerSpec
from capture.users import PrivilegeError, User, invoking_user, staged_for

SERVERS: dict[str, Launcher] = LAUNCHERS
PORT_ATTEMPTS = 3  # a picked free port can be taken before the server binds it

__all__ = ["SERVERS", "RunningServer", "ServerError", "ServerSpec", "read_app_events", "start_server", "wait_for_event"]


@dataclass(frozen=True)
class RunningServer:
    impl: str
    host: str
    port: int
    pid: int  #: the process that owns the listening socket (the server, even under a wrapper)
    argv: list[str]  #: the full command line, wrapper prefix included
    leader_pid: int  #: the process we started (the wrapper when wrapped); its group is torn down
    user: User
    spec: ServerSpec
    child: Child

    @property
    def address(self) -> str:
        return format_addr(self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.address}/"

    def events(self) -> list[dict]:
        """The server's app.jsonl lines so far."""
        return read_app_events(self.spec.app_log, pid=self.pid)

    def wait_handler_done(self, timeout_s: float | None = None) -> dict | None:
        """Wait for the handler's "response" event (every server logs one when its handler returns).

        Default timeout: the handler delay plus 5 s. None when it did not come.
        """
        if self.spec.app_log is None:
            raise ServerError("wait_handler_done needs spec.app_log")
        timeout_s = self.spec.handler_delay_s + 5.0 if timeout_s is None else timeout_s
        return wait_for_event(self.spec.app_log, "response", pid=self.pid, timeout_s=timeout_s)


def _tail(stream, lines: int = 5) -> str:
    stream.flush()
    stream.seek(0)
    text = stream.read().decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "no output"


def _check(spec: ServerSpec) -> Launcher:
    launcher = SERVERS.get(spec.impl)
    if launcher is None:
        raise ServerError(f"unknown server {spec.impl!r}: choose one of {', '.join(SERVERS)}")
    problem = spec.problem(spec.impl)
    if problem:
        raise ServerError(problem)
    if spec.size < 0 or spec.handler_delay_s < 0:
        raise ServerError("size and handler delay must be >= 0")
    return launcher


@contextlib.contextmanager
def start_server(spec: ServerSpec, wrap: Sequence[str] = ()) -> Iterator[RunningServer]:
    """Start the server, wait until it listens, yield it; terminate its process group on exit.

    ``wrap`` is a command prefix (``["strace", "-f", "-o", path]``) run with
    the server's uid; ``.pid`` is still the real server (found as the owner of
    the listening socket among the wrapper's descendants).
    """
    launcher = _check(spec)
    user = spec.user or invoking_user()
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(staged_for(user, launcher.files()))
        app_out = stack.enter_context(open(spec.app_log, "ab") if spec.app_log else open("/dev/null", "wb"))
        err_out = stack.enter_context(open(spec.server_log, "a+b") if spec.server_log else tempfile.TemporaryFile())
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = spec.port or free_port(spec.host)
            try:
                argv = [*wrap, *launcher.argv(spec, port, files, user)]
                with deferred():  # started and registered for teardown together
                    child = spawn(argv, user=user, stdout=app_out, stderr=err_out)
                    stack.callback(child.terminate)
            except (ProcessError, PrivilegeError) as exc:
                raise ServerError(str(exc)) from exc
            try:
                pid = wait_listening(spec.host, port, owner=child.pid, timeout_s=spec.ready_timeout_s)
            except ProcessError as exc:
                child.terminate()
                if spec.port is None and attempt < PORT_ATTEMPTS and "address already in use" in _tail(err_out).lower():
                    continue
                raise ServerError(f"{spec.impl} server did not start on {format_addr(spec.host, port)}: {exc}; stderr: {_tail(err_out)}") from exc
            break
        yield RunningServer(
            impl=spec.impl, host=spec.host, port=port, pid=pid, argv=argv,
            leader_pid=child.pid, user=user, spec=spec, child=child,
        )  # fmt: skip
