"""nginx ``access.log`` (the default ``combined`` format, or ``common``) -> timeline rows: status 499 lines.

    127.0.0.1 - - [04/Dec/2026:23:50:01 +0000] "GET /big HTTP/1.1" 499 0 "-" "curl/8.5.0"

499 is nginx's "client closed request": the client went away before the
response was complete. Those lines become ``abort`` rows (actor: the client's
decision, seen by the server); every other status is read and left out (a busy
log would bury the timeline). The time carries its zone; it is when nginx
logged the request's end, in whole seconds (the arrival time replaces it when
the bundle recorded one within that second). The tie is inferred from the
client address and time (events._infer). Lines that are no access-log line
are damaged: skipped and counted.
"""

from __future__ import annotations

import re

from analysis import clock
from analysis.events._loglines import matching_lines, timed_rows
from analysis.events.context import ParseContext
from analysis.schema import EventKind

LINE = re.compile(r'^(?P<client>[0-9a-fA-F:.]+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
                  r"(?P<bytes>\d+|-)")
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
CLIENT_CLOSED = "499"


def parse(text: str, ctx: ParseContext):
    """Timeline rows from access.log text: its 499 lines (module docstring)."""
    found, damaged = matching_lines(text, LINE)
    records = []
    for number, match in found:
        if match.group("status") != CLIENT_CLOSED:
            continue
        records.append({
            "line": number, "ts_text": match.group("ts"), "ts_res_ns": clock.NS_PER_S, "kind": EventKind.ABORT.value,
            "address": match.group("client"),
            "detail": f'nginx 499 (client closed request) "{match.group("request")}", {match.group("bytes")} bytes sent',
        })
    return timed_rows(records, TIME_FORMAT, ctx, damaged)
