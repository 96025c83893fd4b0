"""Node.js server output -> timeline rows (source ``app``), tied by an endpoint the lines name.

    Error: write EPIPE
        at afterWriteDispatched (node:internal/stream_base_commons:160:15)
    Error: read ECONNRESET
    Error [ERR_STREAM_DESTROYED]: Cannot call write after a stream was destroyed
    2026-12-04T23:50:01.123Z request from 127.0.0.1:59004 failed: Error: write EPIPE

An error line is ``Error: write|read|writev|shutdown EXXX`` (the call and the
errno), or ``Error [ERR_STREAM_DESTROYED]`` / ``[ERR_STREAM_WRITE_AFTER_END]``
(a write the stream refused: ``write_error`` with no errno). Times: an ISO 8601
stamp at the line's start (with its zone, else ``ctx.tz``), else the arrival
(events._stacks).
"""

from __future__ import annotations

import re

from analysis.events._stacks import StackFormat, parse_with
from analysis.events.context import ParseContext
from analysis.schema import EventKind

FORMAT = StackFormat(
    name="node",
    error=re.compile(r"\bError: (?P<op>write|read|writev|shutdown) (?P<errno>E[A-Z]+)\b|"
                     r"\bError \[(?:ERR_STREAM_DESTROYED|ERR_STREAM_WRITE_AFTER_END)\]"),
    stamps=((re.compile(r"^\[?(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"), None),),
    op=re.compile(r"\bCannot call (?P<op>write) after"),
    no_errno_kind=EventKind.WRITE_ERROR.value,
)


def parse(text: str, ctx: ParseContext):
    """Timeline rows from Node output (module docstring)."""
    return parse_with(FORMAT, text, ctx)
