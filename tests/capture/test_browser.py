"""The headless Chromium client: what it puts on the wire, what it logs, what it leaves behind.

Real Chromium, a real server on loopback. The browser aborts its fetch
(AbortController) or its tab is closed; the capture shows how its socket
closes (FIN, like curl), and nothing of Chromium survives the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capture.clients.browser import CHROMIUM_FLAGS, MODES, PAGE, BrowserMode, _crashpad_pids
from capture.procs import descendants, is_running, proc_status
from tests import conftest

REQUIRED_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic")  # fmt: skip
NOBODY = 65534


def test_chromium_is_started_with_the_quiet_headless_flags():
    assert set(REQUIRED_FLAGS) <= set(CHROMIUM_FLAGS)
    assert "--remote-debugging-address=127.0.0.1" in CHROMIUM_FLAGS  # DevTools (close-tab) on loopback only


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
    assert _crashpad_pids(Path(outcome.profile)) == []


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
def test_under_sudo_chromium_runs_as_the_invoking_user(slow_server, monkeypatch):
    from capture.clients.browser import run_browser
    from capture.users import invoking_user

    server, _ = slow_server
    monkeypatch.setenv("SUDO_UID", str(NOBODY))
    monkeypatch.setenv("SUDO_GID", str(NOBODY))
    seen = {}

    def look() -> bool:
        if outcome_pid := seen.get("pid"):
            seen["uid"] = proc_status(outcome_pid).get("Uid", "").split()[:1]
        return False

    def emit(line: dict) -> None:
        if line["event"] == "log" and "chromium pid" in (line["detail"] or ""):
            seen["pid"] = int(line["detail"].split()[2])
            seen["uid"] = proc_status(seen["pid"]).get("Uid", "").split()[:1]

    outcome = run_browser(server.url, abort_after_s=0.2, user=invoking_user(), linger_s=0.2, linger_until=look, emit=emit)
    assert outcome.first("abort") is not None
    assert seen["uid"] == [str(NOBODY)]
    assert os.geteuid() == 0  # we stayed root; only Chromium dropped
