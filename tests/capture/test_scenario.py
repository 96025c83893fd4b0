"""The whole harness, real programs on loopback: what a user checks in the bundle.

Each full run takes about 1.5 s; runs are module-scoped fixtures shared by
the assertions that read them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from analysis.bundle import BundlePaths, read_meta
from capture import procs
from capture.scenario import ScenarioParams, run_scenario
from tests import conftest
from tests.capture.tracing import abortscope_instances

pytestmark = [pytest.mark.root, pytest.mark.slow]

FIN, RST = 0x01, 0x04
NOBODY = 65534
WRITE_LIKE = ("write", "writev", "sendto", "sendmsg")
STRACE_CALL = re.compile(r"^(?:\d+\s+)?\d+\.\d+ (?P<call>\w+)\((?P<fd>\d+)<TCP:\[(?P<tuple>[^\]]*)\]>.*\) = (?P<ret>-?\d+)(?: (?P<errno>E[A-Z]+))?")


def _run(tmp_path_factory, name: str, **params):
    conftest.require_root()
    conftest.require_tools("go", "curl", "tcpdump", "tshark", "strace")
    out = tmp_path_factory.mktemp(name)
    result = run_scenario(ScenarioParams(out_dir=out, **params))
    return result


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return _run(tmp_path_factory, "seed")


@pytest.fixture(scope="module")
def size_8060_as_nobody(tmp_path_factory):
    """N=8060 under a simulated sudo from uid 65534: checks ownership and who the server ran as."""
    saved = {k: os.environ.get(k) for k in ("SUDO_UID", "SUDO_GID")}
    os.environ.update(SUDO_UID=str(NOBODY), SUDO_GID=str(NOBODY))
    seen_uids: dict[str, str] = {}

    def on_phase(phase: str) -> None:
        if phase == "handler":  # server and client started: who runs the server?
            server_pid = read_pid_listening(port)
            seen_uids["server"] = procs.proc_status(server_pid).get("Uid", "") if server_pid else ""

    try:
        conftest.require_root()
        port = procs.free_port()
        parent = tmp_path_factory.mktemp("n8060")  # root's: the run must leave its owner alone
        parent.chmod(0o755)
        out = parent / "bundle"  # created by the run: handed over
        result = run_scenario(ScenarioParams(out_dir=out, size=8060, port=port), on_phase=on_phase)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return result, seen_uids


def read_pid_listening(port: int) -> int | None:
    inodes = {s.inode for s in procs.tcp_sockets() if s.state == procs.TCP_LISTEN and s.local.endswith(f":{port}")}
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit() and procs.socket_inodes(int(proc_dir.name)) & inodes:
            return int(proc_dir.name)
    return None


def app_events(result) -> list[dict]:
    return [json.loads(line) for line in BundlePaths(result.out_dir).app.read_text().splitlines() if line.strip()]


def tshark_packets(result) -> list[dict]:
    """Packets read back with tshark, independently of our code."""
    done = subprocess.run(
        ["tshark", "-n", "-r", str(BundlePaths(result.out_dir).capture), "-T", "fields",
         "-e", "tcp.srcport", "-e", "tcp.flags", "-e", "tcp.len"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    port = result.meta["server"]["port"]
    rows = []
    for line in done.stdout.splitlines():
        sport, flags, length = line.split("\t")
        rows.append({"from": "server" if int(sport) == port else "client", "flags": int(flags, 16), "len": int(length)})
    return rows


def socket_syscalls(result) -> list[dict]:
    """strace lines on TCP connection fds (not the listener), in order."""
    calls = []
    for line in BundlePaths(result.out_dir).strace.read_text().splitlines():
        match = STRACE_CALL.match(line)
        if match and "->" in match["tuple"]:
            calls.append({**match.groupdict(), "ret": int(match["ret"]), "line": line})
    return calls


def writes(result) -> list[dict]:
    return [c for c in socket_syscalls(result) if c["call"] in WRITE_LIKE]


# --- go + curl, N = 8061: the seed scenario -----------------------------------------------------


def test_seed_handler_sees_broken_pipe(seed):
    errors = [e for e in app_events(seed) if e["actor"] == "server" and e.get("error")]
    assert errors and "broken pipe" in errors[0]["error"]
    assert errors[0]["errno"] == "EPIPE"
    assert "broken pipe" in seed.summary.app_error
    assert seed.meta["interrupted"] is False


def test_seed_wire_has_client_fin_then_server_data_then_client_rst(seed):
    packets = tshark_packets(seed)
    fin = next(i for i, p in enumerate(packets) if p["from"] == "client" and p["flags"] & FIN)
    data = next(i for i, p in enumerate(packets) if p["from"] == "server" and p["len"] > 0)
    rst = next(i for i, p in enumerate(packets) if p["from"] == "client" and p["flags"] & RST)
    assert fin < data < rst
    assert rst == len(packets) - 1, "the RST is the last packet and it is in the file"
    assert seed.summary.rst.startswith("client sent RST")


def test_seed_strace_has_one_good_write_then_epipe(seed):
    calls = writes(seed)
    assert calls[0]["ret"] == 4096, calls[0]["line"]
    assert calls[1]["ret"] == -1 and calls[1]["errno"] == "EPIPE", calls[1]["line"]
    assert "EPIPE" in seed.summary.failing_syscall


def test_seed_kernel_sees_close_wait_reset_and_error_32(seed):
    port = seed.meta["server"]["port"]
    text = BundlePaths(seed.out_dir).kernel.read_text()
    assert re.search(rf"inet_sock_set_state: .*sport={port} .*newstate=TCP_CLOSE_WAIT", text)
    assert re.search(rf"tcp_receive_reset: .*sport={port} ", text)
    assert re.search(rf"inet_sk_error_report: .*sport={port} .*error=32", text)


def test_seed_meta_records_every_layer(seed):
    meta = read_meta(seed.out_dir)
    assert meta["interrupted"] is False and meta["phase"] == "done"
    assert meta["scenario"]["size"] == 8061 and meta["scenario"]["server"] == "go"
    for name in ("capture", "strace", "kernel"):
        assert meta["recorders"][name]["ran"], meta["recorders"][name]
    capture = meta["recorders"]["capture"]
    assert capture["backend"] == "tcpdump" and capture["written"] == capture["captured"] > 0
    assert capture["dropped_by_kernel"] == 0
    assert meta["clocks"]["trace_clock"] == "boot" and meta["clocks"]["trace_to_realtime_ns"] > 0
    assert meta["versions"]["kernel"] == os.uname().release and meta["versions"]["go"]
    assert meta["started_ns"] < meta["finished_ns"]
    assert set(meta["pids"]) >= {"server", "client", "capture", "strace"}
    assert meta["pids_alive_after_run"] == []
    assert not any(procs.is_running(pid) for pid in meta["pids"].values())
    assert not procs.listeners_on("127.0.0.1", meta["server"]["port"])
    assert abortscope_instances(f"abortscope-*-{meta['server']['port']}*") == []


# --- N = 8060, as the invoking user 65534 -------------------------------------------------------


def test_8060_no_app_error_but_epipe_in_strace(size_8060_as_nobody):
    result, _ = size_8060_as_nobody
    assert not [e for e in app_events(result) if e["actor"] == "server" and e.get("error")]
    assert any(c["errno"] == "EPIPE" for c in writes(result))


def test_under_sudo_the_bundle_belongs_to_the_invoking_user_and_the_server_ran_as_them(size_8060_as_nobody):
    result, seen_uids = size_8060_as_nobody
    owners = {(p.name, p.stat().st_uid, p.stat().st_gid) for p in [result.out_dir, *result.out_dir.iterdir()]}
    assert {(name, uid, gid) for name, uid, gid in owners if (uid, gid) != (NOBODY, NOBODY)} == set()
    assert result.out_dir.parent.stat().st_uid == 0, "a directory the run did not create keeps its owner"
    assert seen_uids["server"].split()[0] == str(NOBODY)
    assert read_meta(result.out_dir)["run_as"]["uid"] == NOBODY


# --- other clients and servers -----------------------------------------------------------------


def test_socket_rst_against_go_fails_the_first_write(tmp_path_factory):
    result = _run(tmp_path_factory, "go-rst", client="socket-rst", size=4000)
    reads = [c for c in socket_syscalls(result) if c["call"] in ("read", "recvfrom")]
    assert any(c["errno"] == "ECONNRESET" for c in reads), "net/http's background read consumed the reset"
    calls = writes(result)
    assert calls[0]["ret"] == -1 and calls[0]["errno"] == "EPIPE", calls[0]["line"]
    errors = [e for e in app_events(result) if e["actor"] == "server" and e.get("error")]
    assert errors, "with a RST even a single-flush response (4000 bytes) reaches the handler as an error"


def test_socket_rst_against_python_raw_econnreset_then_epipe(tmp_path_factory):
    result = _run(tmp_path_factory, "raw-rst", server="python-raw", client="socket-rst", write_size=4096)
    failed = [c["errno"] for c in writes(result) if c["ret"] == -1]
    assert failed[0] == "ECONNRESET" and "EPIPE" in failed[1:], failed
    errors = [e for e in app_events(result) if e["actor"] == "server" and e.get("error")]
    assert "connection reset by peer" in errors[0]["error"].lower()


def test_half_close_client_gets_the_whole_response_without_error(tmp_path_factory):
    result = _run(tmp_path_factory, "half-close", client="half-close")
    events = app_events(result)
    assert not [e for e in events if e.get("error")]
    assert not [c for c in writes(result) if c["ret"] == -1]
    received = sum(p["len"] for p in tshark_packets(result) if p["from"] == "server")
    assert received > 8061


# --- capture backends --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["scapy", "dumpcap"])
def test_every_capture_backend_gives_the_same_packets(seed, backend, tmp_path_factory):
    conftest.require_tools("dumpcap", "editcap")
    result = _run(tmp_path_factory, f"seed-{backend}", capture=backend)
    shape = [(p["from"], p["flags"], p["len"]) for p in tshark_packets(result)]
    assert shape == [(p["from"], p["flags"], p["len"]) for p in tshark_packets(seed)]
    status = result.meta["recorders"]["capture"]
    assert status["backend"] == backend and status["written"] == status["captured"] == len(shape)
