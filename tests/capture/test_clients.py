"""Clients against real servers on loopback, and the process plumbing they rely on.

The SIGINT tests recreate what a background job or a non-interactive shell
does to its children (SIGINT ignored, which exec keeps) and check that our
children get it back at its default: a curl that ignores SIGINT would not be
"Ctrl-C'd" and the scenario would silently be a different one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest

from capture.clients import CLIENTS, ClientError, ClientSpec, run_client
from capture.procs import ignored_signals, is_running, proc_status, running, spawn, wait_gone
from capture.servers import ServerSpec, start_server
from capture.users import User, invoking_user
from tests.conftest import require_root, require_tools

DELAY_S = 0.3
ABORT_S = 0.1


@contextlib.contextmanager
def sigint_ignored():
    """Run the block the way a background job runs: with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_against(tmp_path, client: str, *, impl: str = "go", size: int = 8061, **server):
    tmp_path.mkdir(exist_ok=True)
    app_log = tmp_path / "app.jsonl"
    with start_server(ServerSpec(impl=impl, size=size, handler_delay_s=DELAY_S, app_log=app_log, **server)) as srv:
        result = run_client(ClientSpec(impl=client, host=srv.host, port=srv.port, abort_after_s=ABORT_S, app_log=app_log))
        assert srv.wait_handler_done() is not None
        return result, srv.events()


def test_children_get_sigint_back_even_when_we_ignore_it():
    with sigint_ignored():
        plain = subprocess.Popen(["sleep", "5"])
        ours = spawn(["sleep", "5"])
    try:
        assert signal.SIGINT in ignored_signals(plain.pid), "control: exec keeps an ignored SIGINT"
        assert signal.SIGINT not in ignored_signals(ours.pid)
        assert ours.send_signal(signal.SIGINT)
        assert ours.wait(2) == -signal.SIGINT
    finally:
        plain.kill()
        plain.wait()
        ours.terminate()


def test_children_run_in_their_own_process_group_and_are_torn_down():
    with running(["sleep", "30"]) as child:
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
    assert wait_gone(child.pid, 1.0)


def test_curl_is_killed_by_the_sigint_it_would_otherwise_ignore(tmp_path):
    require_tools("curl")
    with sigint_ignored():
        result, server = run_against(tmp_path, "curl")
    assert result.returncode == -signal.SIGINT and result.killed_by_sigint
    abort = result.event("abort")
    assert abort["local"] and abort["remote"].endswith(f":{server[0]['local'].rsplit(':', 1)[1]}")
    assert ABORT_S <= (abort["ts_ns"] - result.started_ns) / 1e9 < ABORT_S + 0.2
    assert "killed by SIGINT" in result.event("exit")["detail"]
    assert "Connected to" in result.stderr and result.bytes_received == 0
    assert not is_running(result.pid)


def test_curl_against_go_8061_the_users_report(tmp_path):
    result, server = run_against(tmp_path, "curl")
    [error] = [e for e in server if e["event"] == "write_error"]
    assert "write: broken pipe" in error["error"]
    assert error["remote"] == result.event("abort")["local"], "the failed write is on curl's connection"


def test_curl_that_finishes_before_the_abort_is_not_signalled(tmp_path):
    require_tools("curl")
    app_log = tmp_path / "app.jsonl"
    with start_server(ServerSpec(impl="go", size=100, handler_delay_s=0, app_log=app_log, content_length=True)) as srv:
        result = run_client(ClientSpec(impl="curl", host=srv.host, port=srv.port, abort_after_s=2.0, app_log=app_log))
    assert result.returncode == 0 and result.abort_ns is None and result.bytes_received == 100


def test_socket_fin_logs_connect_request_and_close(tmp_path):
    result, _ = run_against(tmp_path, "socket-fin")
    assert [e["event"] for e in result.events] == ["connect", "request", "abort"]
    assert result.event("abort")["detail"] == "close(): FIN"
    assert result.returncode == 0 and ABORT_S <= (result.abort_ns - result.started_ns) / 1e9


def test_socket_rst_against_go_fails_a_write_that_a_fin_lets_through(tmp_path):
    """net/http's background read consumes the RST, so the first 4 KiB flush already fails
    (5000 bytes: one flush inside Write); after a mere FIN that flush succeeds."""
    result, server = run_against(tmp_path / "rst", "socket-rst", size=5000)
    assert "SO_LINGER" in result.event("abort")["detail"]
    [error] = [e for e in server if e["event"] == "write_error"]
    assert error["errno"] == "EPIPE"
    _, server = run_against(tmp_path / "fin", "socket-fin", size=5000)
    assert [e["event"] for e in server if e["event"].startswith("write")] == ["write"]


@pytest.mark.parametrize(("impl", "options"), [("go", {"content_length": True}), ("python-raw", {}), ("python", {})])
def test_half_close_receives_the_whole_response_and_nobody_errs(tmp_path, impl, options):
    result, server = run_against(tmp_path, "half-close", impl=impl, size=8061, **options)
    eof = result.event("read_eof")
    assert eof is not None and "body 8061 (content-length: 8061)" in eof["detail"]
    assert result.event("shutdown")["ts_ns"] < eof["ts_ns"]
    assert [e for e in server if e["event"] == "write_error"] == []


def test_unknown_client_is_refused():
    with pytest.raises(ClientError, match="choose one of"):
        run_client(ClientSpec(impl="wget"))


def test_refused_connects_where_nothing_listens_and_logs_econnrefused(tmp_path):
    """The server listens on 127.0.0.1 only: its port on 127.0.0.2 (loopback too) refuses the SYN."""
    app_log = tmp_path / "app.jsonl"
    with start_server(ServerSpec(impl="go", handler_delay_s=DELAY_S, app_log=app_log)) as srv:
        result = run_client(ClientSpec(impl="refused", host=srv.host, port=srv.port, app_log=app_log))
        assert srv.events() == []  # nothing reached the server
    [connect] = result.events
    assert (connect["event"], connect["errno"], connect["remote"]) == ("connect", "ECONNREFUSED", f"127.0.0.2:{srv.port}")
    assert connect["local"].startswith("127.0.0.1:") and result.returncode == 0


def test_refused_needs_an_ipv4_loopback_and_says_so_before_anything_starts():
    from capture import launch
    from capture.scenario import ScenarioParams
    from capture.servers import ServerError

    with pytest.raises(ServerError, match="needs an IPv4 loopback host"):
        launch.check(ScenarioParams(client="refused", host="::1"))


def test_every_client_has_a_description():
    assert set(CLIENTS) == {"curl", "socket-fin", "socket-rst", "half-close", "browser", "browser-close", "refused"}
    assert all(c.doc for c in CLIENTS.values())


def test_invoking_user_without_sudo_is_us(monkeypatch):
    monkeypatch.delenv("SUDO_UID", raising=False)
    assert invoking_user().uid == os.geteuid()


@pytest.mark.root
def test_under_sudo_clients_run_as_the_invoking_user(tmp_path, monkeypatch):
    require_root()
    require_tools("curl")
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    nobody = User.from_uid(65534)
    with running(["sleep", "5"], user=invoking_user()) as child:  # the way run_client starts curl
        time.sleep(0.05)
        assert proc_status(child.pid)["Uid"].split() == ["65534"] * 4
    result, server = run_against(tmp_path, "socket-fin")
    assert "uid=65534 gid=65534" in result.event("connect")["detail"] and result.uid == nobody.uid
    result, server = run_against(tmp_path, "curl")
    assert result.killed_by_sigint and result.uid == nobody.uid
    assert any(e["event"] == "write_error" for e in server)


def test_node_answers_a_half_close_by_closing_without_a_response(tmp_path):
    """Node's http server does not keep half-open connections: the FIN ends the request."""
    result, server = run_against(tmp_path, "half-close", impl="node", size=100)
    assert result.bytes_received == 0 and "no complete response head" in result.event("read_eof")["detail"]
    assert any(e["event"] == "read_eof" for e in server)
