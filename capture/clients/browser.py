"""The `browser` client: headless Chromium fetches the slow URL and gives up on it, as a user's tab does.

    run_browser(url, abort_after_s=0.3, mode=BrowserMode.ABORT)    # the API: -> BrowserOutcome
    run_browser_client(ClientSpec(impl="browser", ...), user)      # the clients-registry entry

How it works, and why:

- a tiny page server (``http.server`` in a thread) serves ``browser_page.html``
  on *another* free loopback port, so its traffic never matches the capture
  filter on the server's port; the page's script reports each step back to
  it (``GET /report?event=...``), and each report becomes one app.jsonl line
  (actor ``client``, impl ``browser``);
- mode ``abort``: the page ``fetch``es the target and calls
  ``AbortController.abort()`` after the abort delay;
  mode ``close-tab``: the page fetches and waits; after the abort delay
  (counted from the page's ``request`` report) the tab is closed through
  DevTools, on a pipe (:mod:`capture.clients.chromium`: Chromium never runs
  as root and never opens a DevTools port);
- the browser stays open after the abort until ``linger_until()`` holds (the
  registry entry waits for the server's handler to end, as a real browser
  would still be open) or ``linger_s`` passed; every wait is bounded.
"""

from __future__ import annotations

import enum
import json
import os
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from capture.clients.chromium import STARTUP_TIMEOUT_S, BrowserError, Chromium
from capture.clients.spec import ClientResult, ClientSpec
from capture.procs import descendants, format_addr, socket_inodes, tcp_sockets
from capture.servers.events import read_app_events
from capture.users import User, unprivileged_user

IMPL = "browser"
PAGE = Path(__file__).with_name("browser_page.html")
#: server app.jsonl events after which its handler has nothing more to write
HANDLER_DONE_EVENTS = frozenset({"response", "abort"})


class BrowserMode(str, enum.Enum):
    """How the browser gives up on the request."""

    ABORT = "abort"  #: AbortController.abort() in the page
    CLOSE_TAB = "close-tab"  #: the tab is closed while the fetch is pending


#: registry name -> mode (see the registration lines in the module's report / README)
MODES = {"browser": BrowserMode.ABORT, "browser-close": BrowserMode.CLOSE_TAB}


@dataclass
class BrowserOutcome:
    """What the browser client did: its app.jsonl lines, and how it ended."""

    argv: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    chromium_pid: int | None = None
    started_ns: int | None = None
    abort_ns: int | None = None  #: when abort() ran in the page, or the tab was closed
    exit_code: int | None = None  #: Chromium's exit status after we stopped it
    bytes_received: int = 0  #: body bytes the page read (0 when the fetch was aborted)
    log_tail: str = ""  #: last lines of Chromium's own output
    profile: str = ""  #: the throw-away profile/HOME directory (removed at the end)

    def first(self, event: str) -> dict | None:
        return next((e for e in self.events if e["event"] == event), None)


def _event(event: str, **fields) -> dict:
    line = {"ts_ns": time.time_ns(), "actor": "client", "impl": IMPL, "pid": os.getpid(), "event": event,
            "asked": None, "written": None, "error": None, "errno": None, "local": None, "remote": None,
            "detail": None}  # fmt: skip
    line.update(fields)
    return line


# --- the page server ----------------------------------------------------------------------


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reports: "queue.Queue[tuple[int, dict]]") -> None:
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.reports = reports
        self.page = PAGE.read_bytes()


def _page_time_ns(report: dict) -> int:
    """When the page says the step happened (its epoch_ms, performance.timeOrigin + now()), else now."""
    try:
        return round(float(report["epoch_ms"]) * 1e6)
    except (KeyError, ValueError):
        return time.time_ns()


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/":
            self._reply(200, self.server.page, "text/html; charset=utf-8")
        elif parsed.path == "/report":
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
            self.server.reports.put((_page_time_ns(query), query))
            self._reply(204, b"", "text/plain")
        else:
            self._reply(404, b"", "text/plain")

    def _reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # the page server is not what we study
        pass


def browser_connections(chromium_pid: int, server_port: int) -> list[tuple[str, str]]:
    """(local, remote) of every TCP socket Chromium's processes hold to ``server_port``."""
    inodes: set[int] = set()
    for pid in descendants(chromium_pid):
        inodes |= socket_inodes(pid)
    return [(s.local, s.remote) for s in tcp_sockets() if s.inode in inodes and s.remote.endswith(f":{server_port}")]


# --- one run ------------------------------------------------------------------------------


def run_browser(
    url: str,
    *,
    abort_after_s: float = 0.3,
    mode: BrowserMode | str = BrowserMode.ABORT,
    user: User | None = None,
    linger_s: float = 0.0,
    linger_until: Callable[[], bool] | None = None,
    timeout_s: float = 30.0,
    emit: Callable[[dict], None] | None = None,
) -> BrowserOutcome:
    """Load the page, let it fetch ``url``, give up after ``abort_after_s``; always cleans up.

    After the abort the browser stays open for ``linger_s``, or until
    ``linger_until()`` is true (checked every 20 ms, at most ``linger_s``).
    ``emit`` gets each app.jsonl line as it happens. Raises BrowserError when
    Chromium is missing, dies, or the page never sent its request.
    """
    mode = BrowserMode(mode)
    user = user or unprivileged_user()
    outcome = BrowserOutcome()
    server_port = urllib.parse.urlsplit(url).port or 80

    def note(event: str, **fields) -> dict:
        line = _event(event, **fields)
        outcome.events.append(line)
        if emit is not None:
            emit(line)
        return line

    reports: queue.Queue[tuple[int, dict]] = queue.Queue()
    pages = _PageServer(reports)
    threading.Thread(target=pages.serve_forever, name="browser-page-server", daemon=True).start()
    query = urllib.parse.urlencode({"target": url, "abort_ms": round(abort_after_s * 1000), "mode": mode.value})
    chromium = Chromium(f"http://127.0.0.1:{pages.server_address[1]}/?{query}", user, min(timeout_s, STARTUP_TIMEOUT_S))
    outcome.profile = str(chromium.profile)
    deadline = time.monotonic() + timeout_s
    ends: dict = {}
    skipped: list[tuple[int, dict]] = []  # page reports that came while waiting for another one
    try:
        child = chromium.start()
        outcome.chromium_pid, outcome.started_ns, outcome.argv = child.pid, child.started_ns, chromium.argv
        note("log", detail=f"chromium pid {child.pid} as uid {user.uid}, mode {mode.value}, page {chromium.page_url}")
        request_ns, _ = _wait_report(reports, "request", chromium, min(deadline, time.monotonic() + STARTUP_TIMEOUT_S), skipped)
        conns = _wait_connections(child.pid, server_port)
        if conns:
            ends = {"local": conns[0][0], "remote": conns[0][1]}
        note("request", ts_ns=request_ns, detail=f"fetch GET {url}; connections to the server: {len(conns)}", **ends)
        if mode is BrowserMode.ABORT:
            outcome.abort_ns, _ = _wait_report(reports, "abort", chromium, deadline, skipped)
            note("abort", ts_ns=outcome.abort_ns, detail=f"AbortController.abort() after {abort_after_s} s", **ends)
        else:
            time.sleep(max(0.0, request_ns / 1e9 + abort_after_s - time.time()))
            outcome.abort_ns = time.time_ns()
            target = chromium.close_tab()
            note("abort", ts_ns=outcome.abort_ns, detail=f"tab closed (DevTools target {target}) after {abort_after_s} s", **ends)
        for ts_ns, report in skipped:
            reports.put((ts_ns, report))
        _drain_reports(reports, note, ends, outcome, settle_s=0.2)
        _linger(linger_s, linger_until, deadline)
        _drain_reports(reports, note, ends, outcome, settle_s=0.0)
    finally:
        outcome.log_tail = chromium.log_tail()
        outcome.exit_code = chromium.stop()
        pages.shutdown()
        pages.server_close()
        note("close", detail=f"chromium stopped (exit {outcome.exit_code}), profile removed")
    return outcome


def _wait_report(reports: queue.Queue, wanted: str, chromium: Chromium, deadline: float, skipped: list) -> tuple[int, dict]:
    """The page's first ``wanted`` report (others go to ``skipped``); BrowserError when Chromium died or time ran out."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"the page sent no {wanted!r} report in time; chromium: {chromium.log_tail() or 'no output'}")
        if not chromium.alive():
            raise BrowserError(f"chromium exited before {wanted!r}: {chromium.log_tail() or 'no output'}")
        try:
            ts_ns, report = reports.get(timeout=min(left, 0.1))
        except queue.Empty:
            continue
        if report.get("event") == wanted:
            return ts_ns, report
        skipped.append((ts_ns, report))


def _wait_connections(chromium_pid: int, server_port: int, timeout_s: float = 0.5) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        conns = browser_connections(chromium_pid, server_port)
        if conns or time.monotonic() > deadline:
            return conns
        time.sleep(0.01)


def _linger(linger_s: float, until: Callable[[], bool] | None, deadline: float) -> None:
    end = min(time.monotonic() + linger_s, deadline)
    while time.monotonic() < end and not (until is not None and until()):
        time.sleep(0.02)


#: page report -> app.jsonl event (the page's own view of how the fetch ended)
_REPORT_EVENTS = {"response": "response", "read_error": "read_error", "log": "log"}


def _drain_reports(reports: queue.Queue, note: Callable[..., dict], ends: dict, outcome: BrowserOutcome, settle_s: float) -> None:
    deadline = time.monotonic() + settle_s
    while True:
        try:
            ts_ns, report = reports.get(timeout=max(0.001, deadline - time.monotonic()))
        except queue.Empty:
            return
        event = _REPORT_EVENTS.get(report.get("event", ""))
        if event:
            note(event, ts_ns=ts_ns, detail=f"page: {report.get('detail', '')}", **ends)
        if event == "response":
            outcome.bytes_received = int(report.get("bytes") or 0)


# --- the clients-registry entry -------------------------------------------------------------


def _handler_done(app_log: Path | None) -> Callable[[], bool]:
    return lambda: any(e.get("event") in HANDLER_DONE_EVENTS for e in read_app_events(app_log, actor="server"))


def run_browser_client(spec: ClientSpec, user: User) -> ClientResult:
    """``capture.clients`` entry for ``browser`` (AbortController) and ``browser-close`` (tab closed).

    The browser stays open after the abort until the server's handler has
    ended (its ``response``/``abort`` line in the app log), at most
    ``spec.read_timeout_s``: the run's client outlives Chromium's slow start.
    """
    if spec.impl not in MODES:
        raise BrowserError(f"unknown browser client {spec.impl!r}: choose one of {', '.join(MODES)}")
    url = f"http://{format_addr(spec.host, spec.port)}{spec.path}"
    lines: list[bytes] = []
    outcome = run_browser(
        url, abort_after_s=spec.abort_after_s, mode=MODES[spec.impl], user=user if user.uid != 0 else unprivileged_user(),
        linger_s=spec.read_timeout_s, linger_until=_handler_done(spec.app_log) if spec.app_log else None,
        timeout_s=STARTUP_TIMEOUT_S + spec.abort_after_s + spec.read_timeout_s,
        emit=lambda line: lines.append((json.dumps(line) + "\n").encode()),
    )  # fmt: skip
    if spec.app_log is not None:
        with open(spec.app_log, "ab") as log:
            for line in lines:
                log.write(line)
    return ClientResult(
        impl=spec.impl, pid=outcome.chromium_pid or 0, argv=outcome.argv, uid=user.uid,
        returncode=outcome.exit_code, started_ns=outcome.started_ns or 0, abort_ns=outcome.abort_ns,
        ended_ns=time.time_ns(), bytes_received=outcome.bytes_received, events=tuple(outcome.events),
        stderr=outcome.log_tail,
    )  # fmt: skip
