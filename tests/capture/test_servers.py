"""Servers on loopback with real clients: what each logs, and that teardown leaves nothing.

Handler delays are short (0.3 s, abort at 0.1 s): the 1 s of the user's
program is not the point here, the order of FIN, write and RST is.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import time
from pathlib import Path

import pytest

from capture.clients import ClientSpec, run_client
from capture.procs import ProcessError, free_port, is_running, listeners_on, proc_status, wait_for_port, wait_gone
from capture.servers import SERVERS, ServerError, ServerSpec, start_server, wait_for_event
from capture.servers.gobuild import ensure_go_server
from capture.users import User
from tests.conftest import require_root, require_tools

DELAY_S = 0.3
ABORT_S = 0.1
#: Go's log.Println with LstdFlags|Lmicroseconds|LUTC
GO_LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} write tcp \S+->\S+: write: broken pipe$", re.M)


def scenario(tmp_path: Path, client: str = "socket-fin", host: str = "127.0.0.1", **server) -> tuple[list[dict], list[dict]]:
    """One request from ``client`` to a server; (server events, client events) from app.jsonl."""
    app_log = tmp_path / "app.jsonl"
    spec = ServerSpec(host=host, handler_delay_s=DELAY_S, app_log=app_log, server_log=tmp_path / "server.log", **server)
    with start_server(spec) as srv:
        result = run_client(ClientSpec(impl=client, host=srv.host, port=srv.port, abort_after_s=ABORT_S, app_log=app_log))
        assert srv.wait_handler_done() is not None, srv.events()
        server_events = srv.events()
    return server_events, list(result.events)


def named(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


def test_go_server_is_built_once_and_reused():
    first = ensure_go_server()
    mtime = first.stat().st_mtime_ns
    assert ensure_go_server() == first and first.stat().st_mtime_ns == mtime
    assert os.access(first, os.X_OK)


def test_go_8061_after_fin_fails_the_handlers_write_with_broken_pipe(tmp_path):
    server, client = scenario(tmp_path, impl="go", size=8061)
    [error] = named(server, "write_error")
    assert "broken pipe" in error["error"] and error["errno"] == "EPIPE"
    assert error["asked"] == 8061
    # the connection in the error is the client's: same 4-tuple both sides logged
    [connect] = named(client, "connect")
    assert (error["local"], error["remote"]) == (connect["remote"], connect["local"])
    assert error["ts_ns"] > named(client, "abort")[0]["ts_ns"]
    assert GO_LOG_LINE.search((tmp_path / "server.log").read_text())


def test_go_8060_after_fin_handler_sees_no_error(tmp_path):
    server, _ = scenario(tmp_path, impl="go", size=8060)
    assert named(server, "write_error") == []
    [write] = named(server, "write")
    assert write["written"] == 8060 and write["error"] is None


def test_go_ctx_aware_skips_the_write(tmp_path):
    server, _ = scenario(tmp_path, impl="go", size=8061, ctx_aware=True)
    assert named(server, "write") == named(server, "write_error") == []
    [abort] = named(server, "abort")
    assert abort["error"] == "context canceled"


def test_go_on_ipv6_loopback(tmp_path):
    server, client = scenario(tmp_path, host="::1", impl="go", size=8061)
    [error] = named(server, "write_error")
    assert error["local"].startswith("[::1]:") and error["remote"] == named(client, "connect")[0]["local"]


def test_python_server_logs_the_failed_body_write(tmp_path):
    server, _ = scenario(tmp_path, impl="python", size=8061)
    [headers] = [e for e in named(server, "write") if e["detail"] == "headers"]
    [error] = named(server, "write_error")
    assert error["detail"] == "body" and error["errno"] in ("EPIPE", "ECONNRESET")
    assert error["ts_ns"] > headers["ts_ns"]


def test_python_raw_after_rst_first_send_is_reset_then_broken_pipe(tmp_path):
    server, _ = scenario(tmp_path, client="socket-rst", impl="python-raw", size=8061)
    errors = named(server, "write_error")
    assert named(server, "write") == []
    # head + 8061 body bytes = two 4096-byte chunks; each is attempted once
    assert [e["errno"] for e in errors] == ["ECONNRESET", "EPIPE"]
    assert "reset by peer" in errors[0]["error"].lower()


@pytest.mark.parametrize(("write_size", "failed"), [(4096, True), (65536, False)])
def test_python_raw_write_size_moves_the_failure(tmp_path, write_size, failed):
    """After a FIN the first send still succeeds: only a second send can fail."""
    server, _ = scenario(tmp_path, impl="python-raw", size=8061, write_size=write_size)
    writes = named(server, "write")
    assert writes[0]["written"] == writes[0]["asked"]
    assert bool(named(server, "write_error")) is failed
    if failed:
        assert named(server, "write_error")[0]["errno"] == "EPIPE"


#: "SO_SNDBUF=8192 (asked 4096)": the accept event's detail when the server set the buffer
SNDBUF_DETAIL = re.compile(r"^SO_SNDBUF=(\d+) \(asked (\d+)\)$")


@pytest.mark.parametrize("impl", ["python-raw", "go"])
def test_sndbuf_sets_the_effective_send_buffer_which_linux_doubles(tmp_path, impl):
    server, _ = scenario(tmp_path, impl=impl, size=100, sndbuf=4096)
    [accept] = named(server, "accept")
    effective, asked = map(int, SNDBUF_DETAIL.match(accept["detail"]).groups())
    assert (asked, effective) == (4096, 8192)  # read back with getsockopt: the kernel doubles what is asked


@pytest.mark.parametrize(("sndbuf", "cut_short"), [(0, False), (4096, True)])
def test_a_small_sndbuf_cuts_a_large_send_short_after_fin(tmp_path, sndbuf, cut_short):
    """One 65536-byte send after the peer's FIN: accepted whole by default; with a small buffer a
    partial send (the RST ends the wait for buffer space), and the rest of the response fails."""
    server, _ = scenario(tmp_path, impl="python-raw", size=40000, write_size=65536, sndbuf=sndbuf)
    [first] = named(server, "write")
    assert (first["written"] < first["asked"]) is cut_short
    assert [e["errno"] for e in named(server, "write_error")] == (["EPIPE"] if cut_short else [])


def test_node_destroys_the_socket_on_fin_and_never_writes(tmp_path):
    server, _ = scenario(tmp_path, impl="node", size=8061)
    assert named(server, "read_eof"), "node saw the client's FIN"
    [before] = [e for e in named(server, "log") if e["detail"].startswith("before write")]
    assert "socket.destroyed=true" in before["detail"]
    [error] = named(server, "write_error")
    assert error["errno"] is None and "ERR_STREAM_DESTROYED" in error["detail"]
    assert named(server, "write") == []


def test_no_probe_connection_reaches_the_server(tmp_path):
    """Readiness comes from /proc/net/tcp: the only connection the server sees is the client's."""
    server, _ = scenario(tmp_path, impl="python-raw", size=100)
    assert len(named(server, "accept")) == 1


@pytest.mark.parametrize("impl", sorted(SERVERS))
def test_teardown_leaves_no_process_and_frees_the_port(tmp_path, impl):
    spec = ServerSpec(impl=impl, handler_delay_s=DELAY_S, app_log=tmp_path / "app.jsonl")
    with pytest.raises(RuntimeError, match="scenario failed"):
        with start_server(spec) as srv:
            assert is_running(srv.pid) and listeners_on(srv.host, srv.port)
            socket.create_connection((srv.host, srv.port)).close()
            raise RuntimeError("scenario failed")
    assert wait_gone(srv.pid, 1.0) and not is_running(srv.leader_pid)
    assert listeners_on(srv.host, srv.port) == []
    with socket.socket() as again:  # TIME_WAIT may remain: that is the kernel's, not a listener
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((srv.host, srv.port))


def test_wrapped_server_reports_the_servers_pid_not_the_wrappers(tmp_path):
    require_tools("strace")
    spec = ServerSpec(impl="go", handler_delay_s=DELAY_S)
    with start_server(spec, wrap=["strace", "-f", "-qq", "-o", str(tmp_path / "strace.txt")]) as srv:
        assert srv.pid != srv.leader_pid
        assert Path(os.readlink(f"/proc/{srv.pid}/exe")).name.startswith("go-server-")
        assert proc_status(srv.pid)["PPid"] == str(srv.leader_pid)
        assert srv.argv[0] == "strace"
    assert wait_gone(srv.pid, 1.0) and wait_gone(srv.leader_pid, 1.0)


@pytest.mark.parametrize("impl", sorted(SERVERS))
def test_a_taken_port_says_eaddrinuse_and_leaves_nothing(tmp_path, impl):
    """Every server names the errno of a failed bind (node's stack trace used to hide it past the tail we show)."""
    if impl == "node":
        require_tools("node")
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ServerError, match="(?i)address already in use") as refused:
            with start_server(ServerSpec(impl=impl, port=port, ready_timeout_s=10)):
                pass
    if impl == "node":
        assert "EADDRINUSE" in str(refused.value)


def test_an_option_the_server_lacks_is_refused():
    with pytest.raises(ServerError, match="python server does not support --flush \\(go only\\)"):
        with start_server(ServerSpec(impl="python", flush=True)):
            pass


def test_wait_for_port_connects_when_something_listens_and_gives_up_in_time():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        wait_for_port("127.0.0.1", listener.getsockname()[1], timeout_s=2)
    started = time.monotonic()
    with pytest.raises(ProcessError, match="nothing accepts connections"):
        wait_for_port("127.0.0.1", free_port(), timeout_s=0.3)
    assert time.monotonic() - started < 2


def test_free_ports_on_both_loopbacks():
    for host in ("127.0.0.1", "::1"):
        port = free_port(host)
        assert 0 < port < 65536 and listeners_on(host, port) == []


@pytest.mark.root
@pytest.mark.parametrize("impl", sorted(SERVERS))
def test_under_sudo_the_server_runs_as_the_invoking_user(tmp_path, monkeypatch, impl):
    require_root()
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    app_log = tmp_path / "app.jsonl"
    with start_server(ServerSpec(impl=impl, handler_delay_s=DELAY_S, app_log=app_log)) as srv:
        status = proc_status(srv.pid)
        assert status["Uid"].split() == ["65534"] * 4 and status["Gid"].split() == ["65534"] * 4
        assert status["Groups"].strip() == ""
        assert srv.user == User.from_uid(65534)
        result = run_client(ClientSpec(impl="socket-fin", host=srv.host, port=srv.port, abort_after_s=ABORT_S, app_log=app_log))
        assert "uid=65534" in result.event("connect")["detail"]
        assert srv.wait_handler_done() is not None
    assert wait_gone(srv.pid, 1.0)


def test_python_raw_logs_a_reset_that_came_before_its_handler_and_keeps_serving(tmp_path):
    """The client's RST arrives while the connection still waits in the accept queue (the server is stopped):
    the handler's getpeername() says ENOTCONN. It is logged as an event, not a thread's traceback, and the
    server goes on serving (a crashed handler made a sweep probe count as "no error")."""
    app_log, server_log = tmp_path / "app.jsonl", tmp_path / "server.log"
    with start_server(ServerSpec(impl="python-raw", handler_delay_s=DELAY_S, app_log=app_log, server_log=server_log)) as srv:
        os.kill(srv.pid, signal.SIGSTOP)
        try:
            early = socket.create_connection((srv.host, srv.port))
            early.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            early.close()  # RST, before the server accepted
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        reset = wait_for_event(app_log, "read_error", pid=srv.pid, timeout_s=5)
        assert reset is not None and reset["errno"] == "ENOTCONN", srv.events()
        result = run_client(ClientSpec(impl="half-close", host=srv.host, port=srv.port, abort_after_s=ABORT_S, app_log=app_log))
        assert srv.wait_handler_done() is not None
        assert result.bytes_received > 8061
    assert "Traceback" not in server_log.read_text() and "Exception" not in server_log.read_text()
