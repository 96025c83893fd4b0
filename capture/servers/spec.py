"""What server to start, as one frozen value (the CLI and the scenario fill it in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from capture.server_options import ServerOptions
from capture.users import User


@dataclass(frozen=True)
class ServerSpec(ServerOptions):
    """The server to start; what it is asked to do beyond size and delay: the inherited ServerOptions fields."""

    impl: str = "go"  #: key of capture.servers.SERVERS
    host: str = "127.0.0.1"  #: 127.0.0.1 or ::1
    port: int | None = None  #: None: a free port is picked
    size: int = 8061  #: body bytes the handler writes
    handler_delay_s: float = 1.0  #: the handler's sleep before writing
    app_log: Path | None = None  #: app.jsonl: the server's JSON lines (its stdout) are appended here
    server_log: Path | None = None  #: the server's stderr (Go's log.Println lines); None: kept in memory for errors only
    user: User | None = None  #: who the server runs as; None: the invoking user (SUDO_UID under sudo)
    ready_timeout_s: float = 15.0  #: how long the server may take to listen
