"""Two `abortscope run`s at the same time: each bundle holds only its own packets, syscalls and kernel events.

Both runs are the seed scenario (a RST and an EPIPE each), started together
so that their connections, resets and failing writes overlap in time. The
issue saw the other run's tcp_send_reset and sock_send_length lines in a
bundle (flowless timeline rows); here every layer of each bundle is checked
against its own port, and its timeline has no row of another connection and
no kernel or syscall row tied to none.
"""

from __future__ import annotations

import re
import subprocess

import pytest

import analysis
from analysis.bundle import BundlePaths, read_meta
from capture import procs
from tests import conftest
from tests.capture.runs import start_run

pytestmark = [pytest.mark.root, pytest.mark.slow]

PRINTED_PORTS = re.compile(r"\b(?:sport|dport)=(\d+)|\b(?:src|dest)=\S*:(\d+)\b")
STRACE_TUPLE = re.compile(r"<TCP(?:v6)?:\[([^\]]*)\]>")


def ports_in(line: str) -> set[int]:
    return {int(a or b) for a, b in PRINTED_PORTS.findall(line)} - {0}


def tshark_ports(pcap) -> set[int]:
    done = subprocess.run(["tshark", "-n", "-r", str(pcap), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return {int(p) for line in done.stdout.split() for p in line.split()}


def test_two_concurrent_runs_each_record_only_their_own_events(tmp_path):
    conftest.require_tools("go", "curl", "tcpdump", "strace", "tshark")
    ports = [procs.free_port(), procs.free_port()]
    while ports[0] == ports[1]:
        ports[1] = procs.free_port()
    outs = [tmp_path / "a", tmp_path / "b"]
    runs = [start_run(out, "--port", str(port)) for out, port in zip(outs, ports)]
    results = [run.communicate(timeout=120) for run in runs]
    for run, (stdout, stderr) in zip(runs, results):
        assert run.returncode == 0, stderr
        assert "broken pipe" in stdout
    metas = [read_meta(out) for out in outs]
    overlap = min(m["finished_ns"] for m in metas) - max(m["phase_started_ns"]["client"] for m in metas)
    assert overlap > 500_000_000, "the two runs' connections were open at the same time"
    for out, port, other, meta in zip(outs, ports, ports[::-1], metas):
        bundle = BundlePaths(out)
        assert port in tshark_ports(bundle.capture) and other not in tshark_ports(bundle.capture)
        for line in bundle.strace.read_text().splitlines():
            for tuple_text in STRACE_TUPLE.findall(line):
                assert f":{other}" not in tuple_text, line
        kernel_lines = [line for line in bundle.kernel.read_text().splitlines() if not line.startswith("#")]
        assert any("tcp_send_reset" in line for line in kernel_lines) and any("sock_send_length" in line for line in kernel_lines)
        for line in kernel_lines:
            assert other not in ports_in(line), f"the other run's event in {out.name}: {line}"
            if "sock_send_length" not in line:
                assert port in ports_in(line), line
        assert meta["recorders"]["kernel"]["dropped_lines"] >= 1, "the other run's reset was seen, and dropped"
        timeline = analysis.load(out)
        events = timeline.events
        own = set(timeline.flows["flow"].astype(str))
        assert len(own) == 1 and f":{port}" in next(iter(own))
        assert set(events["flow"].astype(str)) <= own | {""}
        # the symptom: the other run's RST and failed send as rows tied to no connection
        untied = events[(events["flow"] == "") & events["kind"].isin(["rst_sent", "rst_received", "send_length", "sk_error"])]
        assert untied.empty, f"rows tied to no connection in {out.name}:\n{untied[['source', 'kind', 'detail']]}"
