"""What server to start, as one frozen value (the CLI and the scenario fill it in)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from capture.users import User

#: optional behaviours and their "off" values: a launcher must list any that is switched on
OPTION_DEFAULTS = {"content_length": False, "ctx_aware": False, "flush": False, "write_size": 4096, "stop_on_error": False, "sndbuf": 0}


@dataclass(frozen=True)
class ServerSpec:
    impl: str = "go"  #: key of capture.servers.SERVERS
    host: str = "127.0.0.1"  #: 127.0.0.1 or ::1
    port: int | None = None  #: None: a free port is picked
    size: int = 8061  #: body bytes the handler writes
    handler_delay_s: float = 1.0  #: the handler's sleep before writing
    app_log: Path | None = None  #: app.jsonl: the server's JSON lines (its stdout) are appended here
    server_log: Path | None = None  #: the server's stderr (Go's log.Println lines); None: kept in memory for errors only
    content_length: bool = False  #: go, node: send Content-Length instead of chunked encoding
    ctx_aware: bool = False  #: go, node: skip the write when the client is gone (the proper fix)
    flush: bool = False  #: go: http.Flusher.Flush after the write
    write_size: int = 4096  #: python-raw: bytes per send()
    stop_on_error: bool = False  #: python-raw: stop at the first failed send
    sndbuf: int = 0  #: go, python-raw: SO_SNDBUF on the accepted connection; 0 = kernel default (Linux doubles it)
    user: User | None = None  #: who the server runs as; None: the invoking user (SUDO_UID under sudo)
    ready_timeout_s: float = 15.0  #: how long the server may take to listen

    def options_set(self) -> set[str]:
        """The optional behaviours switched away from their defaults."""
        return {f.name for f in fields(self) if f.name in OPTION_DEFAULTS and getattr(self, f.name) != OPTION_DEFAULTS[f.name]}
