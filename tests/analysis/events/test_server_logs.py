"""The log formats of real servers (nginx, Python, Node, Java, JSON, a user's regex) on literal lines.

Every format: its error lines become timeline rows with the errno and kind,
tied to the right connection (exactly by an endpoint, or inferred by nginx's
client address and time, said in the detail); malformed lines are skipped and
counted, never a crash.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import EventParseError
from analysis.events import SOURCES, ParseContext
from analysis.events._lines import LineReport
from analysis.events.detect import detect
from tests.analysis.helpers import validate_source as validate

T0 = 1796428200_000000000  # 2026-12-04 23:50:00 UTC
FIN_FLOW = "127.0.0.1:59004>127.0.0.1:8080"
RST_FLOW = "127.0.0.1:59010>127.0.0.1:8080"
FLOWS = pd.DataFrame({
    "conn": [0, 1], "flow": [FIN_FLOW, RST_FLOW], "client": ["127.0.0.1:59004", "127.0.0.1:59010"],
    "server": ["127.0.0.1:8080"] * 2, "first_ts_ns": [T0, T0 + 5 * 10**9],
    "last_ts_ns": [T0 + 1_500_000_000, T0 + 6 * 10**9], "history": ["ShADadFf", "ShADadR"],
})

NGINX_ERROR = """\
2026/12/04 23:50:01 [info] 4242#4242: *7 client prematurely closed connection while sending request to upstream, client: 127.0.0.1, server: , request: "GET /slow HTTP/1.1", upstream: "http://127.0.0.1:9000/slow", host: "x"
2026/12/04 23:50:05 [info] 4242#4242: *9 writev() failed (104: Connection reset by peer) while sending to client, client: 127.0.0.1, server: , request: "GET /big HTTP/1.1", host: "x"
this is not an nginx line
2026/12/04 23:50:05 [error] 4242#4242: *9 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 127.0.0.1, server: , request: "GET /big HTTP/1.1"
2026/12/04 23:50:05 [error] 4242#4242: *11 open() "/srv/x" failed (13: Permission denied), client: 10.9.9.9, server: , request: "GET /x HTTP/1.1"
2026/13/45 99:99:99 [info] 4242#4242: *7 writev() failed (32: Broken pipe) while sending to client, client: 127.0.0.1
"""
NGINX_ACCESS = """\
127.0.0.1 - - [04/Dec/2026:23:50:01 +0000] "GET /slow HTTP/1.1" 499 0 "-" "curl/8.5.0"
127.0.0.1 - - [04/Dec/2026:23:50:01 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"
127.0.0.1 - - [garbage
"""
PYTHON = """\
127.0.0.1 - - [04/Dec/2026 23:50:05] "GET / HTTP/1.1" 200 -
----------------------------------------
Exception occurred during processing of request from ('127.0.0.1', 59010)
Traceback (most recent call last):
  File "server.py", line 16, in do_GET
    self.wfile.write(b"x" * 65536)
ConnectionResetError: [Errno 104] Connection reset by peer
----------------------------------------
2026-12-04 23:50:01,250 ERROR handler for 127.0.0.1:59004 failed
Traceback (most recent call last):
    self.request.sendall(body)
BrokenPipeError: [Errno 32] Broken pipe
2026-19-99 25:00:00,000 a stamp that is no time
"""
NODE = """\
2026-12-04T23:50:01.100Z response to 127.0.0.1:59004 failed: Error: write EPIPE
    at afterWriteDispatched (node:internal/stream_base_commons:160:15)
2026-12-04T23:50:05.200Z socket 127.0.0.1:59010 Error: read ECONNRESET
Error [ERR_STREAM_DESTROYED]: Cannot call write after a stream was destroyed
"""
JAVA = """\
2026-12-04 23:50:01.123 ERROR [http-nio-8080-exec-1] c.e.Handler : client 127.0.0.1:59004 went away
org.apache.catalina.connector.ClientAbortException: java.io.IOException: Broken pipe
\tat java.base/sun.nio.ch.SocketDispatcher.write0(Native Method)
2026-12-04 23:50:05.500 WARN  [http-nio-8080-exec-2] c.e.Handler : peer 127.0.0.1:59010
java.net.SocketException: Connection reset
\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:328)
"""
JSON = """\
{"time": "2026-12-04T23:50:01.300Z", "client": "127.0.0.1:59004", "error": "write: broken pipe"}
{"time": "not a time", "client": "127.0.0.1:59004"}
not json
"""
PATTERN = r"^(?P<ts>\S+) (?P<remote>\S+) (?P<errno>\S+) (?P<message>.*)$"
PATTERN_LOG = """\
2026-12-04T23:50:01.200+00:00 127.0.0.1:59004 32 the client left
2026-12-04T23:50:05.300 127.0.0.1 ECONNRESET reset by an address only
yesterday 127.0.0.1:59004 EPIPE a time that is none
unmatched
"""


def parse(name: str, text: str, **options) -> tuple[pd.DataFrame, LineReport]:
    report = LineReport()
    rows = SOURCES[name].parse(text, ParseContext(flows=FLOWS, tz="UTC", lines=report, options=options))
    validate(rows)
    return rows, report


def table(rows: pd.DataFrame) -> list[tuple]:
    return [(r.flow, str(r.kind), r.errno if isinstance(r.errno, str) else None) for r in rows.itertuples()]


def test_nginx_error_log_ties_by_client_address_and_time_and_says_the_tie_is_inferred():
    rows, report = parse("nginx", NGINX_ERROR)
    assert table(rows) == [
        (FIN_FLOW, "read_eof", None),  # the client's FIN, seen as "prematurely closed"
        (RST_FLOW, "write_error", "ECONNRESET"),  # writev() failed (104): a RST, fits the connection with R
        (RST_FLOW, "log", None),  # same *9: same connection; an upstream's errno is not the client's
        ("", "log", None),  # open() failed: no errno for the connection; 10.9.9.9 has no connection
    ]
    assert rows["ts_ns"].tolist()[:2] == [T0 + 10**9, T0 + 5 * 10**9], "whole seconds, in the given zone"
    assert rows["detail"].iloc[0].endswith("[tie inferred: client address and time]")
    assert (report.bad, report.first_bad) == (2, 3), "the line of text and the impossible date"


def test_nginx_arrival_time_refines_its_whole_seconds():
    arrival = [T0 + 1_234_567_000] * 6
    rows = SOURCES["nginx"].parse(NGINX_ERROR, ParseContext(flows=FLOWS, tz="UTC", arrival_ns=arrival))
    assert rows["ts_ns"].iloc[0] == T0 + 1_234_567_000, "arrival within the logged second: it is used"
    assert rows["ts_ns"].iloc[1] == T0 + 5 * 10**9, "arrival 4 s before the logged time: the line's own time"


def test_nginx_access_log_499_is_the_clients_abort():
    rows, report = parse("nginx_access", NGINX_ACCESS)
    assert table(rows) == [(FIN_FLOW, "abort", None)], "only the 499; the 200 is read and left out"
    assert rows["actor"].tolist() == ["client"]
    assert report.bad == 1


def test_python_tracebacks_are_tied_by_the_endpoint_above_them_and_timed_by_their_log_line():
    rows, report = parse("python", PYTHON)
    assert table(rows) == [(RST_FLOW, "write_error", "ECONNRESET"), (FIN_FLOW, "write_error", "EPIPE")]
    assert rows["ts_ns"].tolist() == [T0 + 5 * 10**9, T0 + 1_250_000_000]
    assert report.bad == 1, "the stamp that is no time"


def test_python_traceback_without_any_time_takes_its_arrival_or_is_skipped():
    traceback = "Traceback (most recent call last):\nBrokenPipeError: [Errno 32] Broken pipe from 127.0.0.1:59004\n"
    report = LineReport()
    assert SOURCES["python"].parse(traceback, ParseContext(flows=FLOWS, lines=report)).empty
    assert report.bad == 1, "no time of its own, no arrival: skipped and counted"
    rows = SOURCES["python"].parse(traceback, ParseContext(flows=FLOWS, arrival_ns=[T0 + 7, T0 + 9]))
    assert rows["ts_ns"].tolist() == [T0 + 9] and rows["flow"].tolist() == [FIN_FLOW]


def test_node_errors_name_the_call_and_errno():
    rows, report = parse("node", NODE)
    assert table(rows) == [(FIN_FLOW, "write_error", "EPIPE"), (RST_FLOW, "read_error", "ECONNRESET"),
                           ("", "write_error", None)]  # ERR_STREAM_DESTROYED: a refused write, no errno, no endpoint
    assert rows["ts_ns"].iloc[0] == T0 + 1_100_000_000
    assert report.bad == 0


def test_java_exceptions_broken_pipe_and_connection_reset():
    rows, _ = parse("java", JAVA)
    assert table(rows) == [(FIN_FLOW, "write_error", "EPIPE"), (RST_FLOW, "read_error", "ECONNRESET")]
    assert rows["ts_ns"].tolist() == [T0 + 1_123_000_000, T0 + 5_500_000_000]


def test_json_lines_with_a_configured_address_field():
    rows, report = parse("jsonl", JSON, ts_field="time", remote_field="client")
    assert table(rows) == [(FIN_FLOW, "log", "EPIPE")]
    assert report.bad == 2


def test_a_users_pattern_with_named_groups():
    rows, report = parse("pattern", PATTERN_LOG, pattern=PATTERN)
    assert table(rows) == [(FIN_FLOW, "write_error", "EPIPE"), (RST_FLOW, "read_error", "ECONNRESET")]
    assert rows["detail"].iloc[0] == "the client left"
    assert rows["detail"].iloc[1].endswith("[tie inferred: client address and time]"), "an address alone: inferred"
    assert report.bad == 1, "the time that is none; the unmatched line is no event, not damage"


def test_a_users_time_format_is_read_as_the_log_writes_it():
    """A comma in the format's own text (``Dec 04, 2026``) is not taken for a decimal comma."""
    log = "Dec 04, 2026 23:50:01 127.0.0.1:59004 EPIPE the client left\n"
    rows, report = parse("pattern", log, pattern=r"^(?P<ts>\w+ \d+, \d+ \S+) (?P<remote>\S+) (?P<errno>\S+) "
                                                 r"(?P<message>.*)$", ts_format="%b %d, %Y %H:%M:%S")
    assert rows["ts_ns"].tolist() == [T0 + 1_000_000_000] and report.bad == 0


def test_a_pattern_that_is_missing_or_broken_is_a_clear_error():
    with pytest.raises(EventParseError, match="--applog-pattern"):
        SOURCES["pattern"].parse("x", ParseContext())
    with pytest.raises(EventParseError, match="unterminated|missing"):
        SOURCES["pattern"].parse("x", ParseContext(options={"pattern": "(?P<ts>"}))


@pytest.mark.parametrize("name", ["nginx", "nginx_access", "python", "node", "java", "pattern"])
@pytest.mark.parametrize("garbage", ["", "\x00\xff\n\n", "(" * 5000, "2026/12/04 23:50:01 [info] 1#1: *\n" * 3])
def test_garbage_never_crashes(name, garbage):
    rows = SOURCES[name].parse(garbage, ParseContext(flows=FLOWS, options={"pattern": PATTERN}, lines=LineReport()))
    validate(rows)


@pytest.mark.parametrize(("text", "name"), [(NGINX_ERROR, "nginx"), (NGINX_ACCESS, "nginx_access"), (PYTHON, "python"),
                                            (NODE, "node"), (JAVA, "java"), (JSON, "jsonl"),
                                            ("2026/11/23 18:38:46.173734 write tcp 1.2.3.4:1->5.6.7.8:2: write: broken pipe\n",
                                             "applog"), ("", None)])
def test_the_format_is_detected(text, name):
    assert detect(text) == name
