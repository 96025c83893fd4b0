"""What client to run and what came of it, as frozen values."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AbortscopeError
from capture.users import User


class ClientError(AbortscopeError):
    """A client could not be started or did not finish in its time bound."""


@dataclass(frozen=True)
class ClientSpec:
    impl: str = "curl"  #: key of capture.clients.CLIENTS
    host: str = "127.0.0.1"  #: the server's address (127.0.0.1 or ::1)
    port: int = 3000
    path: str = "/"
    abort_after_s: float = 0.3  #: curl: after the start (the Ctrl-C); socket clients: after connect()
    app_log: Path | None = None  #: app.jsonl to append the client's events to
    user: User | None = None  #: None: the invoking user (SUDO_UID under sudo)
    read_timeout_s: float = 5.0  #: half-close: how long to keep reading; curl: how long it may run unaborted


@dataclass(frozen=True)
class ClientResult:
    impl: str
    pid: int
    argv: list[str]
    uid: int  #: the uid the client ran as
    returncode: int | None  #: negative: killed by that signal (subprocess convention)
    started_ns: int
    abort_ns: int | None  #: when the abort (SIGINT, close, shutdown) was issued
    ended_ns: int
    bytes_received: int  #: response bytes the client read (curl: body bytes it wrote out)
    events: tuple[dict, ...]  #: this client's app.jsonl lines
    stderr: str = ""  #: curl -v's trace; the socket clients' stderr (normally empty)

    @property
    def signal(self) -> str | None:
        """Name of the signal that ended the client (SIGINT for an aborted curl), else None."""
        if self.returncode is not None and self.returncode < 0:
            return signal.Signals(-self.returncode).name
        return None

    @property
    def killed_by_sigint(self) -> bool:
        return self.signal == "SIGINT"

    def event(self, name: str) -> dict | None:
        """The client's first event called ``name``, if any."""
        return next((e for e in self.events if e.get("event") == name), None)
