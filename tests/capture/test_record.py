"""`abortscope record` on real servers the test starts: a user's Go program, nginx, a slow Python server.

Each records as a user types it (the installed command, a subprocess), then
reads the bundle with the analyzer: the verdicts, the application's lines tied
to the right connections, and the target still serving afterwards.
"""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import analysis
from analysis.bundle import read_meta
from capture import procs
from tests import conftest
from tests.capture.record_servers import servers
from tests.capture.runs import ABORTSCOPE, run_env

pytestmark = [pytest.mark.root, pytest.mark.slow]


class Recording:
    """`abortscope record --out OUT ARGS` in a session of its own; ``ready()`` waits for its "recording" line."""

    def __init__(self, out: Path, *args: str, sudo_from=None, cwd: Path | None = None, reaper: bool = False) -> None:
        argv = [str(ABORTSCOPE), "record", "--out", str(out), *args]
        if reaper:
            argv = [sys.executable, "-m", "tests.capture.reaper", "--", *argv]
        self.out = out
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, env=run_env(sudo_from), cwd=cwd or Path.cwd())
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self._reader.start()
        self.reaper_child = int(self.proc.stdout.readline()) if reaper else None

    def ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not any("recording:" in line for line in self.stderr):
            assert self.proc.poll() is None, "".join(self.stderr)
            assert time.monotonic() < deadline, "record never started recording: " + "".join(self.stderr)
            time.sleep(0.02)

    def finish(self, timeout_s: float = 120) -> tuple[int, str, dict]:
        stdout, _ = self.proc.communicate(timeout=timeout_s)
        self._reader.join(5)
        return self.proc.returncode, stdout, read_meta(self.out)


def connections(bundle: Path):
    timeline = analysis.load(bundle)
    return timeline, timeline.connections.set_index("flow")


def app_rows(timeline, flow: str):
    events = timeline.events
    return events[(events["source"] == "app") & (events["flow"] == flow)]


def tracer_of(pid: int) -> int:
    return int(procs.proc_status(pid).get("TracerPid", "0"))


@pytest.fixture(scope="module")
def go_program(tmp_path_factory) -> Path:
    conftest.require_tools("go")
    return servers.build_go_server(tmp_path_factory.mktemp("usergo"))


def test_a_go_server_recorded_by_pid_gives_the_epipe_verdict_ties_its_log_and_keeps_serving(tmp_path, go_program):
    conftest.require_tools("tcpdump", "strace", "tail")
    port = procs.free_port()
    with servers.started([str(go_program), f"127.0.0.1:{port}"], port, tmp_path / "server.log") as server:
        rec = Recording(tmp_path / "bundle", "--pid", str(server.pid), "--applog", str(server.log), "--until-rst",
                        "--duration", "30")
        rec.ready()
        client = servers.abort_request(port, "/", "fin", 0.3)
        code, stdout, meta = rec.finish()
        assert code == 0, rec.stderr
        assert meta["record"]["stopped_by"] == "first RST"
        assert meta["record"]["port"] == port and meta["record"]["port_found"], "the only port was found and used"
        assert f"port {port} (found" in stdout
        assert meta["record"]["iface"] == "lo", "it listens on loopback only"
        assert meta["record"]["target_running_after"] is True
        assert tracer_of(server.pid) == 0, "strace detached"
        assert servers.full_request(port) == b"x" * servers.GO_BODY, "the server still serves"
        assert server.proc.poll() is None

    timeline, conns = connections(tmp_path / "bundle")
    flow = f"{client}>127.0.0.1:{port}"
    assert conns.loc[flow, "verdict"] == "WRITE_AFTER_PEER_FIN_RST_EPIPE"
    logged = app_rows(timeline, flow)
    assert list(logged["errno"]) == ["EPIPE"], "the server's own log line is tied to the aborted connection"
    assert "broken pipe" in logged["detail"].iloc[0]
    assert bool(conns.loc[flow, "app_error"])


def test_nginx_recorded_by_pid_ties_its_error_log_to_fin_and_rst_aborts(tmp_path, go_program):
    conftest.require_tools("nginx", "tcpdump", "strace", "tail")
    upstream_port, port = procs.free_port(), procs.free_port()
    with servers.started([str(go_program), f"127.0.0.1:{upstream_port}"], upstream_port, tmp_path / "upstream.log"), \
            servers.nginx(port, upstream_port) as master:
        workers = set(procs.descendants(master.pid)) - {master.pid}
        rec = Recording(tmp_path / "bundle", "--pid", str(master.pid), "--applog", str(master.log),
                        "--applog", str(master.log.with_name("access.log")), "--duration", "4")
        rec.ready()
        fin_client = servers.abort_request(port, "/slow", "fin", 0.3)  # before the upstream answers
        time.sleep(0.5)
        rst_client = servers.abort_request(port, "/big.bin", "rst", 0.3)  # in the middle of 32 MiB
        code, _, meta = rec.finish()
        assert code == 0, rec.stderr
        assert set(meta["recorders"]["strace"]["traced_pids"]) == {master.pid, *workers}, "its workers are followed"
        assert [log["format"] for log in meta["applogs"]] == [None, None], "formats detected at analysis"
        assert servers.full_request(port, "/slow") == b"x" * servers.GO_BODY, "nginx still serves"

    timeline, conns = connections(tmp_path / "bundle")
    assert set(timeline.sources) >= {"nginx", "nginx_access"}
    fin_flow, rst_flow = f"{fin_client}>127.0.0.1:{port}", f"{rst_client}>127.0.0.1:{port}"
    # the client's FIN while nginx still waited for the upstream: nginx closes too (499), no response was sent
    assert conns.loc[fin_flow, "verdict"] == "CLOSED_BEFORE_RESPONSE", "the client's FIN, answered by nginx's FIN"
    # ECONNRESET when nginx was in a writev() as the RST came (it usually is: 32 MiB to send), else plain
    assert conns.loc[rst_flow, "verdict"] in ("RST_BY_CLIENT_ECONNRESET", "RST_BY_CLIENT")
    fin_rows, rst_rows = app_rows(timeline, fin_flow), app_rows(timeline, rst_flow)
    assert "read_eof" in set(fin_rows["kind"]) and "client prematurely closed" in " ".join(fin_rows["detail"])
    assert "abort" in set(fin_rows["kind"]), "the access log's 499 is tied to the FIN abort"
    assert list(rst_rows["errno"].dropna()) == ["ECONNRESET"]
    assert all("tie inferred" in d for d in [*fin_rows["detail"], *rst_rows["detail"]]), "the tie says it is inferred"


def test_a_python_command_runs_as_the_invoking_user_and_its_tracebacks_are_tied(tmp_path, local_user):
    conftest.require_tools("tcpdump", "strace")
    stage = servers.readable_copy([servers.HERE / "slow_server.py"])
    port = procs.free_port()
    try:
        rec = Recording(tmp_path / "bundle", "--until-rst", "--duration", "30", "--",
                        "/usr/bin/python3", str(stage / "slow_server.py"), str(port), sudo_from=local_user, cwd=stage)
        rec.ready()
        command_pid = next(p for p in procs.descendants(rec.proc.pid) if p != rec.proc.pid
                           and "slow_server.py" in Path(f"/proc/{p}/cmdline").read_text(errors="replace"))
        uid_line = procs.proc_status(command_pid)["Uid"].split()
        assert {int(u) for u in uid_line} == {local_user.uid}, "real, effective, saved and fs uid: the invoking user"
        client = servers.abort_request(port, "/", "rst", 1.2)  # mid-body: the server's next write fails
        code, _, meta = rec.finish()
    finally:
        import shutil

        shutil.rmtree(stage, ignore_errors=True)
    assert code == 0, rec.stderr
    assert meta["record"]["command_uid"] == local_user.uid
    assert not procs.is_running(command_pid), "the command is stopped at the end"
    assert meta["pids_alive_after_run"] == []
    assert (tmp_path / "bundle" / "command.log").stat().st_uid == local_user.uid, "handed to the user"

    timeline, conns = connections(tmp_path / "bundle")
    flow = f"{client}>127.0.0.1:{port}"
    assert "python" in timeline.sources
    assert conns.loc[flow, "verdict"] in ("RST_BY_CLIENT_ECONNRESET", "RST_BY_CLIENT")
    tied = app_rows(timeline, flow)
    assert set(tied["errno"].dropna()) & {"ECONNRESET", "EPIPE"}, "the traceback is tied to the aborted connection"
    assert tied["detail"].str.contains("Error: \\[Errno").any()


def test_ctrl_c_during_a_pid_recording_keeps_the_target_and_the_bundle_and_leaves_nothing(tmp_path, go_program):
    conftest.require_tools("tcpdump", "strace")
    port = procs.free_port()
    with servers.started([str(go_program), f"127.0.0.1:{port}"], port, tmp_path / "server.log") as server:
        rec = Recording(tmp_path / "bundle", "--pid", str(server.pid), reaper=True)
        rec.ready()
        servers.abort_request(port, "/", "fin", 0.2)
        assert tracer_of(server.pid) != 0
        os.killpg(rec.reaper_child, signal.SIGINT)  # Ctrl-C at a terminal: the whole foreground job
        code, stdout, meta = rec.finish()
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["left"] == [], "no process of ours outlived record"
        assert report["exit"] == 0, rec.stderr
        assert meta["record"]["stopped_by"] == "signal" and not meta["interrupted"]
        assert meta["recorders"]["capture"]["written"] >= 3, "what was captured is kept"
        assert server.proc.poll() is None and procs.is_running(server.pid)
        assert tracer_of(server.pid) == 0
        assert servers.full_request(port) == b"x" * servers.GO_BODY, "the target keeps serving"


def test_the_target_by_pid_or_by_port_alone_and_the_clear_refusals(tmp_path, go_program):
    first, second = procs.free_port(), procs.free_port()
    with servers.started([str(go_program), f"127.0.0.1:{first}"], first, tmp_path / "a.log") as a, \
            servers.started([str(go_program), f"127.0.0.1:{second}"], second, tmp_path / "b.log"):
        found = subprocess.run([str(ABORTSCOPE), "record", "--out", str(tmp_path / "x"), "--pid", "999999999"],
                               capture_output=True, text=True, env=run_env())
        assert found.returncode == 1 and "no running process with pid 999999999" in found.stderr
        assert not (tmp_path / "x").exists(), "refused before anything was written"
        wrong = subprocess.run([str(ABORTSCOPE), "record", "--out", str(tmp_path / "y"), "--pid", str(a.pid), "--port",
                                str(second), "--duration", "0.2"], capture_output=True, text=True, env=run_env())
        assert wrong.returncode == 0, wrong.stderr  # a port it does not listen on is the user's choice: recorded
        assert read_meta(tmp_path / "y")["record"]["port_found"] is False
        alone = subprocess.run([str(ABORTSCOPE), "record", "--out", str(tmp_path / "z"), "--port", str(first),
                                "--duration", "0.2"], capture_output=True, text=True, env=run_env())
        assert alone.returncode == 0, alone.stderr
        meta = read_meta(tmp_path / "z")["record"]
        assert (meta["mode"], meta["pid"], meta["port"]) == ("port", a.pid, first), "whoever listens on the port"
        assert meta["target_running_after"] is True
        nobody = subprocess.run([str(ABORTSCOPE), "record", "--out", str(tmp_path / "w"), "--port",
                                 str(procs.free_port())], capture_output=True, text=True, env=run_env())
        assert nobody.returncode == 1 and "nothing listens on TCP port" in nobody.stderr


def record_one_abort(tmp_path: Path, program: Path, name: str, syscalls: str):
    """One curl-like FIN abort on the user's Go server, recorded with ``--syscalls``; (timeline, flow, bundle)."""
    port = procs.free_port()
    with servers.started([str(program), f"127.0.0.1:{port}"], port, tmp_path / f"{name}.log") as server:
        rec = Recording(tmp_path / name, "--pid", str(server.pid), "--syscalls", syscalls, "--until-rst",
                        "--duration", "30")
        rec.ready()
        traced_by = tracer_of(server.pid)
        client = servers.abort_request(port, "/", "fin", 0.3)
        code, _, meta = rec.finish()
        assert code == 0, rec.stderr
    timeline = analysis.load(tmp_path / name)
    return timeline, f"{client}>127.0.0.1:{port}", meta, traced_by


def test_kernel_syscalls_give_the_failing_sends_errno_without_strace_as_strace_does(tmp_path, go_program):
    conftest.require_tools("tcpdump", "strace")
    kernel, kernel_flow, meta, traced_by = record_one_abort(tmp_path, go_program, "kernel", "kernel")
    assert traced_by == 0, "no ptrace: nothing traces the server"
    assert not (tmp_path / "kernel" / "strace.txt").exists() and meta["recorders"]["strace"]["ran"] is False
    sends = kernel.events[(kernel.events["kind"] == "send_length") & (kernel.events["flow"] == kernel_flow)]
    failed = sends[sends["errno"].notna()]
    assert list(failed["errno"]) == ["EPIPE"], "the failing send, tied by its socket address"
    assert (sends["len"].dropna() > 0).any(), "and the write before it, which succeeded"
    text = (tmp_path / "kernel" / "kernel.txt").read_text()
    assert not re.search(r"\b(?:0x)?ffff[0-9a-f]{12}\b", text), "no kernel address reaches the bundle"
    row = kernel.connections.set_index("flow").loc[kernel_flow]
    assert row["verdict"] == "WRITE_AFTER_PEER_FIN_RST_EPIPE", "the kernel's failed send is the failing call"
    assert (row["calls_source"], row["syscall_error_errno"]) == ("kernel", "EPIPE")
    assert row["syscall_error_ts_ns"] == failed["ts_ns"].iloc[0]

    traced, traced_flow, _, traced_by = record_one_abort(tmp_path, go_program, "strace", "strace")
    assert traced_by != 0
    writes = traced.events[(traced.events["source"] == "syscall") & (traced.events["flow"] == traced_flow)]
    assert list(writes["errno"][writes["kind"] == "write_error"]) == list(failed["errno"]), "the same errno as strace's"
