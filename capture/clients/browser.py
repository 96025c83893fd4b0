"""The `browser` client: headless Chromium fetches the slow URL and gives up on it, as a user's tab does.

Run as a script (stdlib only, so it runs staged under any python3 as the invoking user):

    python3 browser.py --url http://127.0.0.1:3000/ --abort-after 0.3 [--mode abort|close-tab]
                       [--linger 1.0] [--timeout 30]

or in-process: ``run_browser(url, abort_after_s=0.3, mode=BrowserMode.ABORT)``.

How it works, and why:

- a tiny page server (``http.server`` in a thread) serves ``browser_page.html``
  on *another* free loopback port, so its traffic never matches the capture
  filter on the server's port; the page's script reports each step back to it
  (``GET /report?event=...``), which becomes one app.jsonl line (actor
  ``client``, impl ``browser``) on stdout;
- mode ``abort``: the page ``fetch``es the target and calls
  ``AbortController.abort()`` after the abort delay;
  mode ``close-tab``: the page fetches and waits; after the abort delay (from
  the page's ``request`` report) the tab is closed through the DevTools HTTP
  endpoint (``/json/close/<target id>``, Chromium started with
  ``--remote-debugging-port=0`` on loopback; the port is read from the
  profile's ``DevToolsActivePort`` file), so no websocket client is needed;
- Chromium is Debian's ``/usr/bin/chromium`` with a fresh ``--user-data-dir``
  (a temp dir, also its HOME and XDG dirs, removed afterwards), in a process
  group of its own that is terminated (SIGTERM, then SIGKILL) as a whole:
  Chromium forks zygote, renderer, network and GPU processes. Under sudo as
  root, Chromium runs as SUDO_UID/SUDO_GID, never as root;
- ``--linger`` keeps the browser open after the abort (a real browser stays
  open), so the run's client lasts until the server's handler has written;
- every wait is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

IMPL = "browser"
PAGE = Path(__file__).with_name("browser_page.html")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
#: Flags for a quiet, reproducible headless browser: no sandbox (we may be root), no GPU,
#: no first-run UI, no background traffic, no QUIC (the target is HTTP/1.1 over TCP anyway),
#: no crash reports (the crashpad handlers it still starts setsid() out of our group: see _stop_crashpad).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-default-browser-check",
    "--disable-breakpad",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
STARTUP_TIMEOUT_S = 20.0  #: Chromium's first start on a cold cache can take a few seconds
TERMINATE_GRACE_S = 2.0


class BrowserMode(str, enum.Enum):
    """How the browser gives up on the request."""

    ABORT = "abort"  #: AbortController.abort() in the page
    CLOSE_TAB = "close-tab"  #: the tab is closed while the fetch is pending


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or the page never made its request."""


@dataclass
class BrowserOutcome:
    """What the browser client did: its events (app.jsonl lines) and how it ended."""

    events: list[dict] = field(default_factory=list)
    chromium_pid: int | None = None
    exit_code: int | None = None  #: Chromium's exit status after we terminated it
    aborted: bool = False  #: the abort (or the tab close) happened

    def first(self, event: str) -> dict | None:
        return next((e for e in self.events if e["event"] == event), None)


def find_chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    raise BrowserError("the browser client needs Chromium: apt-get install chromium")


def _event(event: str, **fields) -> dict:
    line = {"ts_ns": time.time_ns(), "actor": "client", "impl": IMPL, "pid": os.getpid(), "event": event,
            "asked": None, "written": None, "error": None, "errno": None, "local": None, "remote": None,
            "detail": None}  # fmt: skip
    line.update(fields)
    return line


def print_event(line: dict) -> None:
    """One app.jsonl line on stdout with one write(2), so lines of several writers never interleave."""
    os.write(sys.stdout.fileno(), (json.dumps(line) + "\n").encode())


# --- the page server ----------------------------------------------------------------------


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reports: "queue.Queue[tuple[int, dict]]") -> None:
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.reports = reports
        self.page = PAGE.read_bytes()


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/":
            self._reply(200, self.server.page, "text/html; charset=utf-8")
        elif parsed.path == "/report":
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
            self.server.reports.put((time.time_ns(), query))
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

    def log_message(self, *args) -> None:  # the page server is not what we study: stay quiet
        pass


# --- who runs Chromium ------------------------------------------------------------------


def _drop_to() -> tuple[int, int] | None:
    """(uid, gid) of the sudo user when we are root under sudo: Chromium must not run as root."""
    if os.geteuid() != 0 or not os.environ.get("SUDO_UID", "").isdigit():
        return None
    uid = int(os.environ["SUDO_UID"])
    gid = int(os.environ["SUDO_GID"]) if os.environ.get("SUDO_GID", "").isdigit() else uid
    return (uid, gid) if uid != 0 else None


def _reset_signals() -> None:  # between fork and exec: a child of a background job ignores SIGINT
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


class _Chromium:
    """Chromium in its own process group, with a throw-away profile that is also its HOME."""

    def __init__(self, page_url: str, timeout_s: float) -> None:
        self.page_url = page_url
        self.timeout_s = timeout_s
        self.profile = Path(tempfile.mkdtemp(prefix="abortscope-chromium-"))
        self.proc: subprocess.Popen | None = None
        self.log = self.profile / "chromium.log"

    def start(self) -> int:
        drop = _drop_to()
        for sub in ("home", "config", "cache"):
            (self.profile / sub).mkdir()
        if drop:
            for path in (self.profile, *self.profile.iterdir()):
                os.chown(path, *drop)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "XDG_", "DBUS_"))}
        env.update(HOME=str(self.profile / "home"), XDG_CONFIG_HOME=str(self.profile / "config"),
                   XDG_CACHE_HOME=str(self.profile / "cache"))  # fmt: skip
        argv = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile / 'profile'}", self.page_url]
        extra = dict(user=drop[0], group=drop[1], extra_groups=[]) if drop else {}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd="/",
                                         process_group=0, preexec_fn=_reset_signals, close_fds=True, **extra)  # fmt: skip
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def devtools_port(self) -> int:
        marker = self.profile / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                return int(marker.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.02)
        raise BrowserError(f"Chromium wrote no DevToolsActivePort in {self.timeout_s} s")

    def close_tab(self) -> str:
        """Close the page's tab through the DevTools HTTP endpoint; returns the closed target id."""
        base = f"http://127.0.0.1:{self.devtools_port()}"
        with urllib.request.urlopen(f"{base}/json/list", timeout=5) as reply:
            targets = json.load(reply)
        page_base = self.page_url.split("?", 1)[0]
        ids = [t["id"] for t in targets if t.get("type") == "page" and t.get("url", "").startswith(page_base)]
        if not ids:
            raise BrowserError(f"no tab with {page_base} among {len(targets)} DevTools targets")
        with urllib.request.urlopen(f"{base}/json/close/{ids[0]}", timeout=5) as reply:
            reply.read()
        return ids[0]

    def stop(self) -> int | None:
        """Stop Chromium, then its whole group, and remove the profile.

        SIGTERM goes to the browser process alone first: it shuts its children
        down and reaps them (signalling the group at once leaves zombies behind).
        Whatever is left of the group after the grace period gets SIGKILL.
        """
        code = None
        if self.proc is not None:
            for send, wait_s in ((self.proc.terminate, TERMINATE_GRACE_S), (lambda: _kill_group(self.proc.pid), 5.0)):
                if self.proc.poll() is None:
                    send()
                try:
                    code = self.proc.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            _kill_group(self.proc.pid)  # stragglers keep the group id reserved, so this is still ours
        for pid in _crashpad_pids(self.profile):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
        return code


def _crashpad_pids(profile: Path) -> list[int]:
    """Chromium's crashpad handlers for this profile: they setsid() out of our group, so they
    are found by their --database path, which lies inside our own (unique) profile dir."""
    token = f"--database={profile}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- the connection Chromium opened (best effort, for the app.jsonl local/remote fields) ---


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return found


def _socket_inodes(pids: list[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except OSError:
            continue
    return inodes


def _proc_addr(text: str) -> tuple[str, int]:
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    ip = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order 32-bit words
    if len(ip) == 16 and ip[:12] == b"\0" * 10 + b"\xff\xff":
        ip = ip[12:]
    family = socket.AF_INET if len(ip) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, ip), int(hex_port, 16)


def _fmt(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def browser_connections(chromium_pid: int, server_port: int) -> list[tuple[str, str]]:
    """(local, remote) of every TCP socket Chromium's processes hold to ``server_port``."""
    inodes = _socket_inodes(_descendants(chromium_pid))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and int(cols[9]) in inodes:
                local, remote = _proc_addr(cols[1]), _proc_addr(cols[2])
                if remote[1] == server_port:
                    found.append((_fmt(*local), _fmt(*remote)))
    return found


# --- one run ------------------------------------------------------------------------------


def run_browser(
    url: str,
    *,
    abort_after_s: float = 0.3,
    mode: BrowserMode | str = BrowserMode.ABORT,
    linger_s: float = 0.0,
    timeout_s: float = 30.0,
    emit: Callable[[dict], None] | None = None,
) -> BrowserOutcome:
    """Load the page, let it fetch ``url``, give up after ``abort_after_s``; always cleans up.

    ``emit`` gets each app.jsonl line as it happens (default: none; the script prints them).
    Raises BrowserError when Chromium is missing or the page never sent its request.
    """
    mode = BrowserMode(mode)
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
    chromium = _Chromium(f"http://127.0.0.1:{pages.server_address[1]}/?{query}", timeout_s=min(timeout_s, STARTUP_TIMEOUT_S))
    deadline = time.monotonic() + timeout_s
    ends: dict = {}
    try:
        outcome.chromium_pid = chromium.start()
        note("log", detail=f"chromium pid {outcome.chromium_pid}, mode {mode.value}, page {chromium.page_url}")
        request_ns, _ = _wait_report(reports, "request", chromium, min(deadline, time.monotonic() + STARTUP_TIMEOUT_S))
        conns = _wait_connections(outcome.chromium_pid, server_port)
        if conns:
            ends = {"local": conns[0][0], "remote": conns[0][1]}
        note("request", detail=f"fetch GET {url}; connections to the server: {len(conns)}", **ends)
        if mode is BrowserMode.ABORT:
            abort_ns, _ = _wait_report(reports, "abort", chromium, deadline)
            outcome.aborted = True
            note("abort", ts_ns=abort_ns, detail=f"AbortController.abort() after {abort_after_s} s", **ends)
        else:
            time.sleep(max(0.0, request_ns / 1e9 + abort_after_s - time.time()))
            target = chromium.close_tab()
            outcome.aborted = True
            note("abort", detail=f"tab closed (DevTools target {target}) after {abort_after_s} s", **ends)
        _drain_reports(reports, note, ends, settle_s=0.2)
        if linger_s > 0:
            time.sleep(min(linger_s, max(0.0, deadline - time.monotonic())))
            _drain_reports(reports, note, ends, settle_s=0.0)
    finally:
        outcome.exit_code = chromium.stop()
        pages.shutdown()
        pages.server_close()
        note("close", detail=f"chromium stopped (exit {outcome.exit_code}), profile removed")
    return outcome


def _wait_report(reports: queue.Queue, wanted: str, chromium: _Chromium, deadline: float) -> tuple[int, dict]:
    """The page's first ``wanted`` report; BrowserError when Chromium died or time ran out."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"the page sent no {wanted!r} report in time; chromium: {chromium.log_tail() or 'no output'}")
        if not chromium.alive():
            raise BrowserError(f"chromium exited ({chromium.proc.returncode}) before {wanted!r}: {chromium.log_tail()}")
        try:
            ts_ns, report = reports.get(timeout=min(left, 0.1))
        except queue.Empty:
            continue
        if report.get("event") == wanted:
            return ts_ns, report


def _wait_connections(chromium_pid: int, server_port: int, timeout_s: float = 0.5) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        conns = browser_connections(chromium_pid, server_port)
        if conns or time.monotonic() > deadline:
            return conns
        time.sleep(0.01)


#: page report -> app.jsonl event (the page's own outcome of the fetch)
_REPORT_EVENTS = {"response": "response", "read_error": "read_error", "log": "log"}


def _drain_reports(reports: queue.Queue, note: Callable[..., dict], ends: dict, settle_s: float) -> None:
    deadline = time.monotonic() + settle_s
    while True:
        try:
            ts_ns, report = reports.get(timeout=max(0.0, deadline - time.monotonic()) or 0.001)
        except queue.Empty:
            return
        event = _REPORT_EVENTS.get(report.get("event", ""))
        if event:
            note(event, ts_ns=ts_ns, detail=f"page: {report.get('detail', '')}", **ends)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the slow URL to fetch")
    parser.add_argument("--abort-after", type=float, default=0.3, help="seconds before the browser gives up")
    parser.add_argument("--mode", choices=[m.value for m in BrowserMode], default=BrowserMode.ABORT.value)
    parser.add_argument("--linger", type=float, default=0.0, help="seconds the browser stays open after the abort")
    parser.add_argument("--timeout", type=float, default=30.0, help="upper bound for the whole run, seconds")
    args = parser.parse_args(argv)

    def on_term(signum, frame):  # SIGTERM from the harness: unwind, so Chromium's group is stopped
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_term)
    try:
        run_browser(args.url, abort_after_s=args.abort_after, mode=args.mode, linger_s=args.linger,
                    timeout_s=args.timeout, emit=print_event)  # fmt: skip
    except BrowserError as exc:
        print_event(_event("log", error=str(exc), detail="browser client failed"))
        print(f"browser client: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
