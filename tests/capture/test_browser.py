"""The headless Chromium client: what it puts on the wire, what it logs, what it leaves behind, who can reach it.

Real Chromium, a real server on loopback. The browser aborts its fetch
(AbortController) or its tab is closed; the capture shows how its socket
closes (FIN, like curl), and nothing of Chromium survives the run. It never
runs as root, and another local user finds no DevTools endpoint to drive it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from capture.clients.browser import MODES, PAGE, BrowserMode
from capture.clients.chromium import CHROMIUM_FLAGS, crashpad_pids
from capture.procs import TCP_LISTEN, descendants, is_running, proc_status, socket_inodes, tcp_sockets
from tests import conftest
from tests.capture.conftest import run_as

REQUIRED_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic")  # fmt: skip
NOBODY = 65534


def test_chromium_is_started_with_the_quiet_headless_flags_and_devtools_on_a_pipe():
    assert set(REQUIRED_FLAGS) <= set(CHROMIUM_FLAGS)
    assert "--remote-debugging-pipe" in CHROMIUM_FLAGS  # DevTools (close-tab) on fds 3/4, not on a port
    assert not [flag for flag in CHROMIUM_FLAGS if flag.startswith(("--remote-debugging-port", "--remote-debugging-address"))]


def test_the_page_aborts_its_fetch_with_an_abort_controller_and_reports_back():
    page = PAGE.read_text()
    assert "new AbortController()" in page and "controller.abort()" in page
    assert "fetch(target, { signal: controller.signal" in page
    assert "/report?" in page


def test_registry_names_map_to_modes():
    assert MODES == {"browser": BrowserMode.ABORT, "browser-close": BrowserMode.CLOSE_TAB}


def _chromium_leftovers(pid: int | None) -> list[int]:
    if pid is None:
        return []
    return [p for p in descendants(pid) if is_running(p)] if is_running(pid) else []


@pytest.fixture
def slow_server(tmp_path):
    from capture.servers import ServerSpec, start_server

    conftest.require_root()
    conftest.require_tools("chromium")
    app_log = tmp_path / "app.jsonl"
    with start_server(ServerSpec(impl="python-raw", size=20000, handler_delay_s=1.0, app_log=app_log)) as server:
        yield server, app_log


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("mode", list(BrowserMode))
def test_browser_gives_up_and_leaves_nothing_behind(slow_server, mode):
    from capture.clients.browser import run_browser
    from capture.servers.events import read_app_events, wait_for_event

    server, app_log = slow_server
    outcome = run_browser(server.url, abort_after_s=0.3, mode=mode, linger_s=1.5,
                          linger_until=lambda: bool(read_app_events(app_log, actor="server") and
                                                    any(e["event"] == "response" for e in read_app_events(app_log))))  # fmt: skip
    request, abort = outcome.first("request"), outcome.first("abort")
    assert request and abort
    assert request["remote"] == server.address and request["local"]  # the browser's own socket, from /proc
    waited_s = (abort["ts_ns"] - request["ts_ns"]) / 1e9
    assert 0.25 <= waited_s <= 0.8
    # the server answered into a closed connection: its writes failed (the browser was gone)
    assert wait_for_event(app_log, "write_error", timeout_s=3.0) is not None
    # nothing of Chromium is left: its process group, its crashpad handlers, its profile
    assert not is_running(outcome.chromium_pid)
    assert _chromium_leftovers(outcome.chromium_pid) == []
    assert outcome.first("close") is not None
    assert outcome.profile and not Path(outcome.profile).exists()
    assert crashpad_pids(Path(outcome.profile)) == []


@pytest.mark.root
@pytest.mark.slow
def test_browser_through_the_harness_closes_with_fin_and_gets_the_rst_back(tmp_path):
    """The scenario with the browser client: the capture says what Chromium put on the wire."""
    from capture.scenario import ScenarioParams, run_scenario
    from capture.sweep.facts import read_facts

    conftest.require_root()
    conftest.require_tools("go", "chromium", "tcpdump", "strace")
    result = run_scenario(ScenarioParams(out_dir=tmp_path / "b", client="browser", size=8061, handler_delay_s=0.3,
                                         abort_after_s=0.1, kernel=False))  # fmt: skip
    facts = read_facts(result.out_dir)
    assert facts.peer_close == "FIN"  # an aborted fetch closes like curl's Ctrl-C
    assert facts.client_rst  # and the browser's kernel resets the late data
    assert facts.app_error and facts.app_errno == "EPIPE"
    assert result.meta["client"]["impl"] == "browser"
    assert result.meta["pids_alive_after_run"] == []
    assert result.meta["handler_wait"] == "handler done"  # Chromium gives up past the handler's deadline


@pytest.mark.root
@pytest.mark.slow
def test_under_sudo_chromium_runs_as_the_invoking_user(slow_server, local_user, as_sudo_from):
    from capture.clients.browser import run_browser

    server, _ = slow_server
    as_sudo_from(local_user)
    seen = {}

    def emit(line: dict) -> None:
        if line["event"] == "log" and "chromium pid" in (line["detail"] or ""):
            seen["pid"] = int(line["detail"].split()[2])
            seen["uids"] = {proc_status(pid).get("Uid", "").split()[0] for pid in descendants(seen["pid"]) if is_running(pid)}

    outcome = run_browser(server.url, abort_after_s=0.2, linger_s=0.2, emit=emit)
    assert outcome.first("abort") is not None
    assert seen["uids"] == {str(local_user.uid)}
    assert os.geteuid() == 0  # we stayed root; only Chromium dropped


#: what another local user tries against a running browser: every TCP port listening on loopback asked for
#: DevTools' /json/version, the browser's profile listed, its DevTools pipe (fd 3) opened through /proc
NEIGHBOUR = r"""
import json, os, socket, sys
ports, profile, pid = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
reached = []
for host, port in ports:
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"GET /json/version HTTP/1.1\r\nHost: localhost\r\n\r\n")
            while b"}" not in answer and (chunk := s.recv(4096)):
                answer += chunk
    except OSError:
        pass
    if b"webSocketDebuggerUrl" in answer or b'"Browser"' in answer:
        reached.append(f"DevTools on {host}:{port}")
for what, path in (("profile", profile), ("devtools pipe", f"/proc/{pid}/fd/3"), ("devtools pipe", f"/proc/{pid}/fd/4")):
    try:
        os.listdir(path) if what == "profile" else os.close(os.open(path, os.O_RDWR))
        reached.append(f"{what} {path}")
    except OSError:
        pass
print(json.dumps(reached))
"""


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("mode", list(BrowserMode))
def test_as_root_chromium_runs_unprivileged_opens_no_port_and_a_second_user_cannot_reach_it(slow_server, local_user, mode):
    """Plain root (no sudo): Chromium runs as nobody, listens on no TCP port (DevTools is a pipe, used to close
    the tab), and another local user can neither find a DevTools endpoint nor enter its profile or pipe."""
    from capture.clients.browser import run_browser

    conftest.require_tools("setpriv")
    server, _ = slow_server
    seen: dict = {}

    def look() -> bool:  # while Chromium is open (after the abort, before it is stopped)
        if "neighbour" in seen or "pid" not in seen:
            return False
        pids = [pid for pid in descendants(seen["pid"]) if is_running(pid)]
        seen["uids"] = {proc_status(pid).get("Uid", "").split()[0] for pid in pids}
        inodes = set().union(*(socket_inodes(pid) for pid in pids))
        seen["listening"] = [s.local for s in tcp_sockets() if s.state == TCP_LISTEN and s.inode in inodes]
        loopback = [(s.local.rsplit(":", 1)[0].strip("[]"), int(s.local.rsplit(":", 1)[1]))
                    for s in tcp_sockets() if s.state == TCP_LISTEN and s.local.startswith(("127.", "[::1]"))]  # fmt: skip
        seen["ports_tried"] = len(loopback)
        argv = Path(f"/proc/{seen['pid']}/cmdline").read_bytes().decode().split("\0")
        profile = next(a.split("=", 1)[1] for a in argv if a.startswith("--user-data-dir="))
        probe = run_as(local_user, ["/usr/bin/python3", "-I", "-c", NEIGHBOUR, json.dumps(loopback), profile, str(seen["pid"])])
        seen["neighbour"] = json.loads(probe.stdout or "null") if probe.returncode == 0 else probe.stderr
        return False

    def emit(line: dict) -> None:
        if line["event"] == "log" and "chromium pid" in (line["detail"] or ""):
            seen["pid"] = int(line["detail"].split()[2])

    outcome = run_browser(server.url, abort_after_s=0.3, mode=mode, linger_s=1.0, linger_until=look, emit=emit)
    assert outcome.first("abort") is not None  # close-tab: closed through the pipe
    assert seen["uids"] == {"65534"}, seen  # nobody, never root
    assert seen["listening"] == [], "Chromium listens on no TCP port"
    assert seen["ports_tried"] >= 2  # the test server and the page server at least
    assert seen["neighbour"] == [], seen["neighbour"]
