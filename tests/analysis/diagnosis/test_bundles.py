"""Diagnosis on real run bundles (go/python servers, curl and socket clients): the words and the evidence frames.

Bundles come from the harness (sample_pcaps/, or ABORTSCOPE_SAMPLES): see tests/analysis/bundles.py.
"""

import json
import re

import pytest

from analysis import load
from analysis.diagnosis import Verdict
from tests.analysis.bundles import bundle, main_flow, tshark_packets
from tests.conftest import require_tools

FIN, RST = 0x01, 0x04


def diagnosis_of(path, **kw):
    timeline = load(path, **kw)
    flow = main_flow(timeline)
    [d] = timeline.diagnose(flow=flow)
    return timeline, d


def kernel_ran(path) -> bool:
    meta = json.loads((path / "meta.json").read_text())
    rec = (meta.get("recorders") or {})
    return any(v.get("ran") for k, v in rec.items() if isinstance(v, dict) and k in ("kernel", "tracefs")) and \
        (path / "kernel.txt").is_file() and "tcp_send_reset" in (path / "kernel.txt").read_text()


def client_fin_data_rst(pcap, server_port):
    """Frames of the client FIN, the first server payload after it, and the client RST after that, read by tshark."""
    require_tools("tshark")
    pk = tshark_packets(pcap)
    from_client = pk["dport"] == server_port
    fin = pk[from_client & ((pk["flags"] & FIN) != 0)]["frame"].min()
    data = pk[~from_client & (pk["len"] > 0) & (pk["frame"] > fin)]["frame"].min()
    rst = pk[from_client & ((pk["flags"] & RST) != 0) & (pk["frame"] > data)]["frame"].min()
    return int(fin), int(data), int(rst)


def joined(d) -> str:
    return "\n".join(d.sentences)


def test_go_curl_8061_full_chain_reaches_the_app():
    path = bundle("go-curl-8061")
    timeline, d = diagnosis_of(path)
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE
    text = joined(d)
    server_port = int(d.flow.rsplit(":", 1)[1].split("#")[0])
    fin, data, rst = client_fin_data_rst(path / "capture.pcap", server_port)
    assert re.search(rf"The client closed with FIN at \+0\.[23]\d s \(frame {fin}\) while the request was pending", text)
    assert re.search(rf"The server wrote 4096 bytes at \+1\.\d\d s \(frame {data}\)", text)
    assert re.search(rf"The client's kernel answered with RST after \d+ µs \(frame {rst}", text)
    if kernel_ran(path):
        assert "reason TCP_TIMEWAIT_SOCKET, from the kernel" in text
    assert re.search(r"The server's next write\(\) failed with EPIPE [\d.]+ (µs|ms) later", text)
    assert "Why EPIPE and not ECONNRESET: the RST arrived while the server's socket was in CLOSE_WAIT" in text
    assert "a RST in ESTABLISHED gives ECONNRESET" in text
    assert "The server sent 4096 bytes after the client's FIN; 4096 of them were never acknowledged" in text
    assert re.search(r"The error reached the application: .*broken pipe", text)
    assert {fin, data, rst} <= set(d.frames)


def test_go_curl_8060_error_swallowed_by_net_http():
    path = bundle("go-curl-8060")
    _, d = diagnosis_of(path)
    assert d.verdict is Verdict.ERROR_SWALLOWED_BY_APP
    text = joined(d)
    assert "EPIPE" in text and "CLOSE_WAIT" in text
    assert re.search(r"The error never reached the application: it recorded a successful write of 8060 bytes", text)
    assert "net/http" in text and "swallowed" in text
    assert any(e.label == "syscall_error" and e.errno == "EPIPE" for e in d.evidence)


def test_go_socket_rst_first_read_gets_econnreset_then_writes_get_epipe():
    path = bundle("go-socket-rst")
    _, d = diagnosis_of(path)
    assert d.verdict is Verdict.RST_BY_CLIENT_ECONNRESET
    text = joined(d)
    assert re.search(r"The client aborted with RST at \+0\.[23]\d s \(frame \d+.*\) without a FIN", text)
    assert re.search(r"The server's read\(\) failed with ECONNRESET", text)
    assert "failed with EPIPE" in text
    assert "socket was ESTABLISHED" in text and "every later write fails with EPIPE" in text
    assert "The error reached the application" in text


def test_python_socket_fin_write_after_fin():
    path = bundle("python-socket-fin")
    timeline, d = diagnosis_of(path)
    events = timeline.flow_events(d.flow)
    epipe = ((events["source"] == "syscall") & (events["errno"] == "EPIPE")).any()
    if epipe:
        assert d.verdict in (Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE, Verdict.ERROR_SWALLOWED_BY_APP)
        assert "CLOSE_WAIT" in joined(d)
    else:
        assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST
    text = joined(d)
    assert re.search(r"The client closed with FIN at \+0\.[23]\d s \(frame \d+\)", text)
    assert "kernel answered with RST" in text


def test_go_half_close_is_clean():
    path = bundle("go-half-close")
    timeline, d = diagnosis_of(path)
    assert d.verdict is Verdict.HALF_CLOSE_CLEAN
    assert "no RST, no error" in joined(d)
    events = timeline.flow_events(d.flow)
    assert events["errno"].isna().all() or set(events["errno"].dropna()) <= {"EAGAIN"}


def test_capture_alone_says_what_cannot_be_known():
    path = bundle("go-curl-8061")
    _, d = diagnosis_of(path / "capture.pcap")
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST
    text = joined(d)
    assert "Without strace of the server, its calls on this connection are not observed" in text
    assert "inferred from the packets" in text
    assert "a write after this RST would fail with EPIPE (Linux's tcp_reset())" in text and "Why EPIPE" not in text
    assert "cannot be known without the application's log" in text


def test_timeline_of_a_bundle_is_one_sorted_schema_frame():
    from analysis.schema import validate

    timeline, d = diagnosis_of(bundle("go-curl-8061"))
    validate(timeline.events)
    assert timeline.events["ts_ns"].is_monotonic_increasing
    assert {"packet", "syscall", "app"} <= set(timeline.events["source"].astype(str))
    rows = timeline.flow_events(d.flow)
    assert rows[rows["source"] == "packet"]["t_rel"].iloc[0] == 0.0


def test_go_curl_ipv6_same_story_with_bracketed_ids():
    path = bundle("go-curl-ipv6")
    timeline, d = diagnosis_of(path)
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE
    assert re.fullmatch(r"\[::1\]:\d+>\[::1\]:\d+", d.flow)
    assert set(timeline.flow_events(d.flow)["source"].astype(str)) >= {"packet", "syscall", "app"}
    if kernel_ran(path):
        assert "reason TCP_TIMEWAIT_SOCKET, from the kernel" in joined(d)
