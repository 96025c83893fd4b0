"""Python server output (tracebacks and log lines) -> timeline rows (source ``app``), tied by the peer's endpoint.

    2026-12-04 23:50:01,123 ERROR send failed
    Traceback (most recent call last):
      File "server.py", line 21, in do_GET
        self.wfile.write(chunk)
    BrokenPipeError: [Errno 32] Broken pipe

    Exception occurred during processing of request from ('127.0.0.1', 59004)
    ...
    ConnectionResetError: [Errno 104] Connection reset by peer

An error line is an exception line of the connection errors (``BrokenPipeError``,
``ConnectionResetError``, ``ConnectionAbortedError``, ``TimeoutError``, an
``OSError``/``socket.error`` with an errno) or any line with ``[Errno N]``; the errno is
N (or the strerror text). The failing call is read from the source line printed
above it (``.write(``, ``.sendall(``, ``.recv(``). Times: ``logging``'s default
``asctime`` (``2026-12-04 23:50:01,123``, local time: ``ctx.tz``) or
http.server's ``[04/Dec/2026 23:50:01]``; a traceback takes its log line's
time, else its arrival (rules: events._stacks).
"""

from __future__ import annotations

import re

from analysis.events._stacks import StackFormat, parse_with
from analysis.events.context import ParseContext

FORMAT = StackFormat(
    name="python",
    error=re.compile(r"^\s*(?:[\w.]+\.)?(?:BrokenPipeError|ConnectionResetError|ConnectionAbortedError|TimeoutError|"
                     r"OSError|socket\.error)\b:?|\[Errno \d+\]"),
    stamps=((re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d+)?)"), None),
            (re.compile(r"^\S+ - - \[(?P<ts>\d{2}/\w{3}/\d{4} \d{2}:\d{2}:\d{2})\]"), "%d/%b/%Y %H:%M:%S")),
    op=re.compile(r"\.(?P<op>sendall|send|sendfile|write|flush|recv_into|recv|readinto|readline|read)\("),
    op_before=2,
)


def parse(text: str, ctx: ParseContext):
    """Timeline rows from Python output (module docstring)."""
    return parse_with(FORMAT, text, ctx)
