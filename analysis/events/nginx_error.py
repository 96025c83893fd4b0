"""nginx ``error.log`` -> timeline rows (source ``app``), tied to connections by client address and time (inferred).

    2026/12/04 23:50:01 [info] 4242#4242: *7 writev() failed (32: Broken pipe) while sending to client, client: 127.0.0.1, server: localhost, request: "GET /big HTTP/1.1", host: "127.0.0.1:8080"
    2026/12/04 23:50:01 [info] 4242#4242: *9 recv() failed (104: Connection reset by peer) while sending to client, client: 127.0.0.1, ...
    2026/12/04 23:50:01 [info] 4242#4242: *8 client prematurely closed connection while sending response to client, client: 127.0.0.1, ...
    2026/12/04 23:50:01 [error] 4242#4242: *5 upstream timed out (110: Connection timed out) while reading response header from upstream, client: ...

nginx logs a client's broken pipe or reset at level ``info``: ``error_log FILE info;``
is needed to see them. Time: local wall clock, whole seconds, no zone: read in
``ctx.tz`` (the recording's machine zone in a bundle of `abortscope record`), and
replaced by the line's arrival time when the bundle recorded one within that
second (events._loglines). The failing call (``writev()``, ``recv()``) gives the
kind, its ``(N: text)`` the errno; "client prematurely closed" is ``read_eof``;
a line about the *upstream* keeps its errno text in the detail only (the client's
connection did not fail). nginx names the client's address, not its port: the
tie is inferred (events._infer, rule there) and said in the detail; lines with
one ``*N`` (nginx's connection number) go to one connection. Lines that are no
nginx error line are damaged: skipped and counted.
"""

from __future__ import annotations

import re

from analysis import clock
from analysis.events._loglines import KIND_OF_OP, errno_in, matching_lines, timed_rows
from analysis.events.context import ParseContext
from analysis.schema import EventKind

LINE = re.compile(r"^(?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): "
                  r"(?:\*(?P<conn>\d+) )?(?P<msg>.*)$")
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
FAILED_CALL = re.compile(r"\b(?P<op>\w+)\(\) failed \(\d+: [^)]*\)")
CLIENT = re.compile(r", client: (?P<client>[0-9a-fA-F:.]+)")
ABOUT_UPSTREAM = re.compile(r"\bupstream\b.*\b(?:failed|timed out|prematurely|reset)|(?:from|to) upstream")
#: message text -> kind, for lines that name no failing call
PHRASES = {"client prematurely closed connection": EventKind.READ_EOF.value,
           "client closed connection": EventKind.READ_EOF.value}
CLIENT_CLOSED = re.compile(r"\bclient (?:\S+ )?(?:prematurely )?closed\b")


def parse(text: str, ctx: ParseContext):
    """Timeline rows from nginx error.log text (module docstring)."""
    found, damaged = matching_lines(text, LINE)
    records = []
    for number, match in found:
        msg = match.group("msg")
        client = CLIENT.search(msg)
        kind = next((k for phrase, k in PHRASES.items() if phrase in msg), None)
        call = FAILED_CALL.search(msg)
        # an errno counts when a socket call to the client failed, or the client closed; not open(), not upstream's
        on_socket = (call is not None and call.group("op") in KIND_OF_OP) or CLIENT_CLOSED.search(msg) is not None
        upstream = kind is None and bool(ABOUT_UPSTREAM.search(msg.split(", client:")[0]))
        not_the_clients = upstream or not on_socket
        records.append({
            "line": number, "ts_text": match.group("ts"), "ts_res_ns": clock.NS_PER_S,
            "kind": EventKind.LOG.value if not_the_clients else kind,
            "errno": None if not_the_clients else errno_in(msg),
            "op": None if not_the_clients or call is None else call.group("op"),
            "address": client.group("client") if client else None,
            "group": f"{match.group('pid')}*{match.group('conn')}" if match.group("conn") else None,
            "detail": f"nginx [{match.group('level')}] {msg}",
        })
    return timed_rows(records, TIME_FORMAT, ctx, damaged)
