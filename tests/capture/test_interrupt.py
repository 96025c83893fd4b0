"""`abortscope run` as a user runs it (a subprocess), interrupted or without root."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from analysis.bundle import BundlePaths, read_meta
from capture import procs
from tests import conftest
from tests.capture.runs import ABORTSCOPE, start_run
from tests.capture.tracing import abortscope_instances

pytestmark = [pytest.mark.root, pytest.mark.slow]

NOBODY = 65534


def wait_for_phase(out: Path, run: subprocess.Popen, port: int, timeout_s: float = 30) -> None:
    """Until the server listens and the client has connected (an ESTABLISHED socket on the port)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        if any(s.state == procs.TCP_ESTABLISHED and s.local.endswith(f":{port}") for s in procs.tcp_sockets()):
            return
        time.sleep(0.02)
    raise AssertionError("the client never connected")


def processes_naming(port: int) -> list[tuple[int, str]]:
    """Running processes whose command line names the port (server, tcpdump filter, ...)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            argv = proc_dir.joinpath("cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(port).encode() in arg for arg in argv) and procs.is_running(int(proc_dir.name)):
            found.append((int(proc_dir.name), b" ".join(argv).decode(errors="replace")))
    return found


def assert_nothing_left(meta: dict, port: int) -> None:
    still = {role: pid for role, pid in meta["pids"].items() if procs.is_running(pid)}
    assert still == {}, "every pid the run recorded is gone"
    assert meta["pids_alive_after_run"] == []
    assert processes_naming(port) == []
    assert not procs.listeners_on("127.0.0.1", port), "the port is free"
    assert abortscope_instances(f"abortscope-*-{port}*") == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_handler_sleep_leaves_nothing_running_and_keeps_the_capture(tmp_path, sig):
    conftest.require_root()
    conftest.require_tools("go", "curl", "tcpdump", "strace")
    port = procs.free_port()
    out = tmp_path / "bundle"
    run = start_run(out, "--port", str(port), "--handler-delay", "3")
    wait_for_phase(out, run, port)
    time.sleep(0.6)  # past the client's abort (0.3 s), in the middle of the handler's 3 s sleep
    run.send_signal(sig)
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr and sig.name in stderr
    meta = read_meta(out)
    assert meta["interrupted"] is True and sig.name in meta["reason"] and meta["phase"] == "handler"
    assert set(meta["pids"]) == {"server", "client", "capture", "strace"}
    assert_nothing_left(meta, port)
    capture = meta["recorders"]["capture"]
    assert capture["ran"] and capture["written"] >= 5, capture  # handshake, request, client FIN
    assert BundlePaths(out).strace.exists() and BundlePaths(out).kernel.exists()
    assert "TCP_CLOSE_WAIT" in BundlePaths(out).kernel.read_text()


def test_a_signal_while_the_recorders_start_leaves_nothing_running(tmp_path):
    conftest.require_root()
    conftest.require_tools("go", "curl", "tcpdump", "strace")
    port = procs.free_port()
    out = tmp_path / "bundle"
    run = start_run(out, "--port", str(port))
    deadline = time.monotonic() + 30
    while not procs.listeners_on("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGINT)  # the server listens: the recorders are starting now
    run.communicate(timeout=30)
    meta = read_meta(out)
    assert meta["interrupted"] is True and meta["phase"] in ("server", "recorders"), meta["reason"]
    assert_nothing_left(meta, port)


def test_without_root_one_line_with_the_sudo_command(tmp_path):
    conftest.require_root()  # to become nobody
    out = tmp_path / "bundle"
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         str(ABORTSCOPE), "run", "--size", "8060", "--out", str(out)],
        capture_output=True, text=True, timeout=60, cwd="/",
        env={**os.environ, "HOME": "/nonexistent"},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"sudo {ABORTSCOPE} run --size 8060 --out {out}" in lines[0]
    assert "root" in lines[0]
    assert not out.exists()


def test_ctrl_c_during_the_analysis_is_an_interrupted_run_handed_to_the_user(tmp_path, local_user, as_sudo_from):
    """The issue: Ctrl-C in the after-run analysis exited 130 with no message, meta.json said interrupted: false,
    and under sudo the bundle stayed root's. Here the analysis (the CLI's hook) is slow on purpose, and a
    Ctrl-C comes while it has written half a timeline."""
    import threading

    from capture.scenario import RunInterrupted, ScenarioParams, run_scenario

    conftest.require_tools("go", "curl", "tcpdump", "strace")
    as_sudo_from(local_user)
    analysing = threading.Event()

    def slow_analysis(stage: Path) -> list[str]:
        (stage / "timeline.csv").write_text("ts_ns,t_rel\n1,")  # cut short mid-file
        analysing.set()
        time.sleep(30)
        return ["timeline.csv"]

    def ctrl_c() -> None:  # to the main thread, as the terminal's SIGINT lands there (a sleeping thread wakes)
        if analysing.wait(60):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    out = tmp_path / "home" / "bundle"
    with pytest.raises(RunInterrupted) as interrupted:
        run_scenario(ScenarioParams(out_dir=out, handler_delay_s=0.3, abort_after_s=0.1), after_run=slow_analysis)
    assert "SIGINT during phase analysis" in str(interrupted.value) and f"abortscope analyze {out}" in str(interrupted.value)
    meta = read_meta(out)
    assert meta["interrupted"] is True and meta["reason"] == "SIGINT during phase analysis" and meta["phase"] == "analysis"
    assert meta["analysis"] == {"written": [], "error": "interrupted by SIGINT"}
    assert not (out / "timeline.csv").exists(), "no half-written timeline in the bundle"
    assert (out / "capture.pcap").stat().st_size > 0 and meta["recorders"]["capture"]["written"] > 5
    owners = {(p.name, p.stat().st_uid) for p in [out.parent, out, *out.iterdir()]}
    assert {uid for _, uid in owners} == {local_user.uid}, owners
