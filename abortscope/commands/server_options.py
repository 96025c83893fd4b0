"""The options `run` and `sweep` share: the server's behaviours, the loopback host, --force.

Each behaviour's help starts with the servers that honour it, as their
launchers declare (capture.servers.launchers ``options``; a test keeps the
two, and the README's servers table, equal). Static text here: the CLI must
not import the harness to print its help (`abortscope analyze` starts fast).
"""

from __future__ import annotations

from typing import Optional

import typer

HOST = typer.Option("127.0.0.1", help="Loopback address: 127.0.0.1 or ::1.")
CONTENT_LENGTH = typer.Option(False, "--content-length", help="go, node: send Content-Length instead of chunked encoding.")
CTX_AWARE = typer.Option(False, "--ctx-aware", help="go, node: skip the write when the client is gone (the fix).")
FLUSH = typer.Option(False, "--flush", help="go: flush after the write.")
WRITE_SIZE: Optional[int] = typer.Option(None, "--write-size", min=1, help="python-raw: bytes per send() (default 4096).")
SNDBUF = typer.Option(0, "--sndbuf", min=0, help="go, python-raw: SO_SNDBUF on the accepted connection (0: kernel default).")
FORCE = typer.Option(False, "--force", help="Write into a non-empty directory that holds no earlier output of ours "
                     "(only our own file names are replaced; other files are left alone).")

#: CLI flag -> the ServerSpec option it sets (capture.servers.spec.OPTION_DEFAULTS)
SERVER_FLAGS = {"--content-length": "content_length", "--ctx-aware": "ctx_aware", "--flush": "flush",
                "--write-size": "write_size", "--sndbuf": "sndbuf"}  # fmt: skip
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
