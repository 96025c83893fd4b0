"""Recorders alone, on a small loopback TCP exchange this test makes itself.

The exchange: connect, 100 bytes up, 5000 bytes down, then the client closes
with SO_LINGER 0 (RST). Every recorder is stopped right after the RST, which
is the case that loses the tail with a buffering capture.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from capture.privileges import MissingToolError, require_root, require_tools, sudo_command
from capture.recorders.base import count_capture_records
from capture.recorders.dumpcap import DumpcapCapture
from capture.recorders.scapy_sniffer import ScapyCapture
from capture.recorders.strace import StraceRecorder
from capture.recorders.tcpdump import TcpdumpCapture
from capture.recorders.tracefs import TracefsRecorder, measure_trace_offset
from tests import conftest
from tests.capture.tracing import abortscope_instances, global_tracing_state, tracefs_mounts

BACKENDS = {"tcpdump": TcpdumpCapture, "dumpcap": DumpcapCapture, "scapy": ScapyCapture}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def exchange_ending_in_rst(port: int) -> None:
    """SYN.., data both ways, then a client RST: 8 packets on lo."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        client.sendall(b"x" * 100)
        server.recv(100)
        server.sendall(b"y" * 5000)
        got = 0
        while got < 5000:
            got += len(client.recv(65536))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        time.sleep(0.002)  # let the RST cross lo before the server socket closes
        server.close()


def tshark_rows(pcap: Path) -> list[tuple[str, ...]]:
    """(src port, dst port, flags, tcp.len, raw seq) per packet, read independently of our code."""
    done = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport",
         "-e", "tcp.flags", "-e", "tcp.len", "-e", "tcp.seq_raw", "-e", "frame.time_epoch"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [tuple(line.split("\t")) for line in done.stdout.splitlines()]


# --- no root needed ---------------------------------------------------------------------------


def test_count_capture_records_counts_whole_records_only(tmp_path):
    header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)  # nanosecond pcap, Ethernet
    record = struct.pack("<IIII", 1, 2, 3, 3) + b"abc"
    path = tmp_path / "torn.pcap"
    path.write_bytes(header + record * 2 + record[:10])  # a torn third record
    assert count_capture_records(path) == 2


def test_sudo_command_reruns_the_same_command_with_the_absolute_program():
    line = sudo_command(["/venv/bin/abortscope", "run", "--size", "8060", "--out", "my run"])
    assert line == "sudo /venv/bin/abortscope run --size 8060 --out 'my run'"


def test_a_missing_tool_names_the_debian_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match=r"missing dumpcap, go; install with: sudo apt-get install -y golang-go tshark"):
        require_tools(["dumpcap", "go"])


def test_trace_offset_is_realtime_minus_boottime():
    offset_ns, uncertainty_ns = measure_trace_offset()
    direct = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(direct - offset_ns) < 5_000_000
    assert 0 <= uncertainty_ns < 1_000_000


# --- root -------------------------------------------------------------------------------------


@pytest.mark.root
def test_as_nobody_require_root_says_run_with_sudo():
    conftest.require_root()
    code = (
        "from capture.privileges import require_root, NeedsRootError\n"
        "try:\n    require_root(['/x/bin/abortscope', 'run', '--out', 'r'])\n"
        "except NeedsRootError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True, text=True, cwd=conftest.REPO, check=True,
    )  # fmt: skip
    assert done.stdout.strip().endswith("run: sudo /x/bin/abortscope run --out r")
    assert "need root" in done.stdout
    require_root()  # and as root it passes


@pytest.mark.root
def test_every_backend_keeps_every_packet_up_to_the_final_rst(tmp_path):
    """All three capture the same exchange at once; stopped right after the RST, none loses the tail."""
    conftest.require_root()
    conftest.require_tools("tcpdump", "dumpcap", "editcap", "tshark")
    port = free_port()
    recorders = {name: cls(tmp_path / f"{name}.pcap", port) for name, cls in BACKENDS.items()}
    with ExitStack() as stack:
        for recorder in recorders.values():
            stack.enter_context(recorder)
        exchange_ending_in_rst(port)
        rst_done = time.monotonic()
        # leaving the block stops every recorder now: well within 100 ms of the RST
        assert time.monotonic() - rst_done < 0.1
    rows = {name: tshark_rows(rec.out_path) for name, rec in recorders.items()}
    without_time = {name: [r[:5] for r in table] for name, table in rows.items()}
    assert len(without_time["tcpdump"]) == 8
    assert int(without_time["tcpdump"][-1][2], 16) & 0x04, "last packet is the RST"
    assert without_time["dumpcap"] == without_time["tcpdump"]
    assert without_time["scapy"] == without_time["tcpdump"]
    for name, rec in recorders.items():
        status = rec.status
        assert status["ran"] and status["written"] == status["captured"] == 8, (name, status)
        assert status["dropped_by_kernel"] == 0
        assert count_capture_records(rec.out_path) == 8
        # nanosecond timestamps: tshark prints 9 decimals that are not all padding zeros
        assert any(not r[5].endswith("000") for r in rows[name]), name
    # on lo the filter sees every packet twice (out and in), the file keeps one copy
    assert recorders["tcpdump"].status["received_by_filter"] == 16
    assert recorders["scapy"].status["received_by_filter"] == 16
    assert not any(_alive(pid) for rec in recorders.values() for pid in rec.pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


THREADED_SERVER = """
import socket, sys, threading, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen()
def idle():
    time.sleep(30)
threading.Thread(target=idle, daemon=True).start()  # a second thread strace must attach to
print("listening", flush=True)
conn, _ = listener.accept()
conn.recv(100)
time.sleep(0.2)
for _ in range(2):
    try:
        conn.send(b"y" * 4096)
    except OSError as exc:
        print(exc, flush=True)
    time.sleep(0.05)
"""


@pytest.mark.root
def test_strace_and_tracefs_see_the_write_after_the_peer_closed(tmp_path):
    """Whether or not tracefs is mounted on this machine: the recorder brings its own (private, detached) mount,
    and leaves the machine's tracing, mounts and instances as it found them."""
    conftest.require_root()
    conftest.require_tools("strace")
    port = free_port()
    before, mounts = global_tracing_state(), tracefs_mounts()
    server = subprocess.Popen([sys.executable, "-c", THREADED_SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        kernel = TracefsRecorder(port, tmp_path / "kernel.txt", server_pid=server.pid)
        strace = StraceRecorder(server.pid, tmp_path / "strace.txt")
        with kernel, strace:
            assert abortscope_instances(f"{kernel.name_base}*") == [kernel.name_base, kernel.name_base + "-sends"]
            assert tracefs_mounts() == mounts, "the recorder's tracefs mount is nowhere in the mount table"
            assert strace.status["threads_attached"] >= 2
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET")  # a send of this process: not the server's, so not in kernel.txt
            client.close()  # FIN; the server's first send draws the RST, the second fails with EPIPE
            server.wait(10)
    finally:
        server.kill()
        server.wait()
    strace_text = (tmp_path / "strace.txt").read_text()
    assert "= 4096" in strace_text and "EPIPE" in strace_text
    assert strace_text.index("= 4096") < strace_text.index("EPIPE")
    kernel_text = (tmp_path / "kernel.txt").read_text()
    assert f"sport={port}" in kernel_text and "newstate=TCP_CLOSE_WAIT" in kernel_text
    assert "tcp_receive_reset" in kernel_text and "error=32" in kernel_text
    assert "reason=TCP_TIMEWAIT_SOCKET" in kernel_text or "tcp_send_reset" in kernel_text
    sends = [line for line in kernel_text.splitlines() if "sock_send_length:" in line]
    assert any("length = 4096" in line for line in sends) and any("error = -32" in line for line in sends)
    assert all(re.search(rf"-{server.pid}\s+\[", line) for line in sends), sends  # the server's (main) thread only
    assert not any("length = 3," in line for line in sends), "the client's send (3 bytes) is not the server's"
    assert kernel.status["instance_removed"] and abortscope_instances(f"{kernel.name_base}*") == []
    assert kernel.clocks["trace_clock"] == "boot"
    assert global_tracing_state() == before, "global tracing left as found"
    assert tracefs_mounts() == mounts
    assert not _alive(strace.pids[0])


@pytest.mark.root
def test_strace_stopped_while_it_starts_leaves_no_probe_child_behind(tmp_path):
    """strace forks a child at start-up to probe ptrace; a SIGINT at that moment killed strace and left the
    child stopped for ever (found by the interrupt loop). Stopping strace at 60 moments of its start-up
    leaves no process with its command line."""
    from capture.recorders.base import HelperProcess
    from capture.recorders.strace import strace_argv

    conftest.require_root()
    conftest.require_tools("strace")
    out = tmp_path / "strace.txt"
    with subprocess.Popen(["sleep", "60"]) as traced:
        try:
            for moment in range(60):
                helper = HelperProcess(strace_argv(traced.pid, out))
                time.sleep(0.0003 * (moment % 12))
                helper.stop(signal.SIGINT)
                left = [pid for pid in _pids_with(str(out)) if _alive(pid)]
                assert left == [], f"strace stopped {0.3 * (moment % 12):.1f} ms into its start left {left}"
        finally:
            traced.kill()


def _pids_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
