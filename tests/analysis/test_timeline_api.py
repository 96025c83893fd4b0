"""analysis.load / Timeline on corpus files (pcap only) and the merge order rules."""

import numpy as np
import pandas as pd

import analysis
from analysis.diagnosis import RULES, Verdict
from analysis.schema import conform, validate
from analysis.timeline import SOURCE_RANK, merge


def test_load_a_capture_gives_events_flows_and_diagnoses(corpus):
    timeline = analysis.load(corpus / "suricata__ftp-quit.pcap")
    assert isinstance(timeline, analysis.Timeline)
    validate(timeline.events)
    assert len(timeline.events) == 7 and timeline.sources == ("packets",)
    [d] = timeline.diagnose()
    # the server (port 21) closed first; the client's QUIT came after that FIN and drew the RST
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST
    assert d.summary == "the client sent data after the server's FIN and the server answered with RST"
    assert set(d.frames) >= {4, 6, 7}
    assert "Without strace" in " ".join(d.sentences)
    assert "WRITE_AFTER_PEER_FIN_RST" in timeline.report_text()


def test_verdicts_on_corpus_stories(corpus):
    cases = {
        "ppa3e__tcp_refuseconnection.pcapng": Verdict.REFUSED,
        "suricata__dns-tcp-multirequest-buffer.pcap": Verdict.HALF_CLOSE_CLEAN,
        "zeek__http-vlan-0.pcap": Verdict.NORMAL_CLOSE,
        "ppa3e__tcp_handshake.pcapng": Verdict.OPEN,
        "zeek__get-to-ssh-server.pcap": Verdict.RST_BY_SERVER,
        "zeek__ocsp-stapling-twimg.pcap": Verdict.WRITE_AFTER_PEER_FIN_RST,
    }
    got = {name: analysis.load(corpus / name).diagnose()[0].verdict for name in cases}
    assert got == cases


def test_every_verdict_has_a_rule_and_rules_end_with_a_catch_all():
    assert {r.verdict for r in RULES} == set(Verdict)
    assert RULES[-1].all_of == () and RULES[-1].none_of == ()


def _rows(source, ts, flow="a:1>b:2"):
    return conform(pd.DataFrame({"ts_ns": ts, "t_rel": 0.0, "flow": flow, "source": source, "kind": "write"}))


def test_merge_sorts_by_time_then_cause_before_effect():
    flows = pd.DataFrame({"conn": [0], "flow": ["a:1>b:2"], "first_ts_ns": [100]})
    frames = [_rows("app", [200, 300]), _rows("packet", [200]), _rows("kernel", [200]), _rows("syscall", [200, 150])]
    merged = merge(frames, flows)
    validate(merged)
    assert merged["ts_ns"].tolist() == [150, 200, 200, 200, 200, 300]
    assert merged["source"].astype(str).tolist() == ["syscall", "syscall", "kernel", "packet", "app", "app"]
    assert np.allclose(merged["t_rel"], [50e-9, 100e-9, 100e-9, 100e-9, 100e-9, 200e-9])
    assert merged["conn"].tolist() == [0] * 6  # tied by their flow id
    assert list(SOURCE_RANK) == ["syscall", "kernel", "packet", "app"]


def test_rows_without_a_flow_count_from_the_first_row():
    flows = pd.DataFrame({"conn": [0], "flow": ["a:1>b:2"], "first_ts_ns": [1_000]})
    merged = merge([_rows("syscall", [500], flow=""), _rows("packet", [1_000, 2_000])], flows)
    assert merged["t_rel"].tolist() == [0.0, 0.0, 1e-6]
    assert merged["conn"].tolist() == [pd.NA, 0, 0]
