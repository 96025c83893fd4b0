"""`abortscope run` says what a user must know: a capture that sees nothing, a layer not recorded, a long build,
an option refused before anything starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analysis.bundle import read_meta
from capture.procs import free_port
from tests import conftest
from tests.capture.runs import ABORTSCOPE, QUICK, run_cli, run_env, start_run

pytestmark = [pytest.mark.root, pytest.mark.slow]


def non_loopback_iface() -> str:
    names = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name != "lo")
    if not names:
        conftest.unavailable("no network interface besides lo to capture on")
    return names[0]


def test_a_capture_interface_that_cannot_see_loopback_traffic_is_warned_about(tmp_path):
    conftest.require_tools("go", "curl", "tcpdump", "strace")
    iface = non_loopback_iface()
    done = run_cli(tmp_path / "b", *QUICK, "--capture-iface", iface)
    assert done.returncode == 0, done.stderr
    assert f"--capture-iface {iface} cannot see this run's packets" in done.stderr
    assert f"the capture on {iface} holds no packets" in done.stderr
    meta = read_meta(tmp_path / "b")
    assert len(meta["warnings"]) == 2 and meta["recorders"]["capture"]["written"] == 0


def test_without_strace_the_summary_says_not_recorded(tmp_path):
    conftest.require_tools("go", "curl", "tcpdump")
    done = run_cli(tmp_path / "b", *QUICK, "--no-strace")
    assert done.returncode == 0, done.stderr
    assert "syscall: not recorded: disabled (--no-strace)" in done.stdout
    assert "no failing write" not in done.stdout


@pytest.mark.parametrize("options", [["--capture-iface", "any"], ["--snaplen", "96"]])
def test_scapy_refuses_what_it_cannot_capture_before_anything_starts(tmp_path, options):
    conftest.require_tools("go", "curl")
    port = free_port()
    run = start_run(tmp_path / "b", *QUICK, "--capture", "scapy", "--port", str(port), *options)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1 and "the scapy capture backend records whole packets on lo only" in stderr
    assert not (tmp_path / "b").exists(), "refused at preflight: no bundle, no server was started"


def test_the_first_go_build_is_announced(tmp_path):
    """A fresh cache (the server binary not built yet): the run says it builds the Go server, on its own line."""
    from capture.servers.gobuild import cache_root, ensure_go_server

    conftest.require_tools("go", "curl", "tcpdump")
    ensure_go_server()  # Go's own build cache is warm: the announced build takes seconds here, not a minute
    fresh = tmp_path / "cache"
    (fresh / "abortscope").mkdir(parents=True)
    (fresh / "abortscope" / "go-build").symlink_to(cache_root() / "go-build")
    env = {**run_env(), "XDG_CACHE_HOME": str(fresh)}

    def run(name: str) -> subprocess.CompletedProcess:
        argv = [str(ABORTSCOPE), "run", "--out", str(tmp_path / name), *QUICK, "--no-strace", "--no-kernel"]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)

    first, again = run("first"), run("again")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "building the Go server" in first.stderr and "about a minute" in first.stderr
    assert "building the Go server" not in again.stderr
    assert list((fresh / "abortscope").glob("go-server-*"))
    assert "build" in read_meta(tmp_path / "first")["phase_started_ns"]
    assert "build" not in read_meta(tmp_path / "again")["phase_started_ns"]
