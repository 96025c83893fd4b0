"""Without strace, the kernel's sock_send_length results are the calls' evidence (``calls_source`` kernel): the
failing send's errno gives the EPIPE verdict, and every sentence about it is checked against the raw files."""

from __future__ import annotations

import shutil

import pandas as pd

import analysis
from tests import conftest
from tests.conftest import SAMPLES
from tests.sentences.registry import check_bundle

FLOW = "127.0.0.1:55858>127.0.0.1:41689"
#: what `record --syscalls kernel` writes for the server's socket of that connection (capture.recorders.socket_map)
SOCKET_LINE = "# abortscope: socket 000000000de93bbd local=127.0.0.1:41689 remote=127.0.0.1:55858\n"


def _kernel_only(tmp_path, named: bool):
    """The go-curl-8061 sample without its strace.txt and app.jsonl: the packets and the kernel trace alone."""
    sample = SAMPLES / "go-curl-8061"
    for name in ("capture.pcap", "meta.json"):
        shutil.copy(sample / name, tmp_path / name)
    (tmp_path / "kernel.txt").write_text((SOCKET_LINE if named else "") + (sample / "kernel.txt").read_text())
    return analysis.load(tmp_path)


def test_the_kernels_failed_send_is_the_failing_call_when_strace_did_not_trace_the_connection(tmp_path):
    timeline = _kernel_only(tmp_path, named=True)
    row = timeline.connections.set_index("flow").loc[FLOW]
    assert row["verdict"] == "WRITE_AFTER_PEER_FIN_RST_EPIPE"
    assert row["calls_source"] == "kernel"
    assert (row["syscall_error_errno"], row["syscall_error_kind"], row["syscall_error_by"]) == ("EPIPE", "write_error", "server")
    assert (row["write_error_errno"], row["write_error_by"]) == ("EPIPE", "server")
    assert row["syscall_error_call"].startswith("sock_send_length sk address=000000000de93bbd")
    # kernel.txt line 30, 4238.370854 s on the trace clock, placed by meta.json's offset
    sends = timeline.events[(timeline.events["kind"] == "send_length") & (timeline.events["flow"] == FLOW)]
    assert row["syscall_error_ts_ns"] == sends.loc[sends["errno"] == "EPIPE", "ts_ns"].iloc[0]
    assert row["write_after_fin_len"] == 4096, "the send after the client's FIN that still succeeded"
    assert row["write_after_fin_ts_ns"] < row["syscall_error_ts_ns"]
    assert not row["syscall_seen"] and row["syscall_epipe"] and row["write_failed"]

    words = " ".join(str(d) for d in timeline.diagnose(FLOW))
    assert "The kernel's sock_send_length reported EPIPE for the server's next send" in words
    assert "strace" not in words, "no claim of a traced call"


def test_every_sentence_about_the_kernels_sends_is_true(tmp_path):
    conftest.require_tools("tshark")
    timeline = _kernel_only(tmp_path, named=True)
    tally = check_bundle(tmp_path, timeline.diagnose())
    assert tally.false == [] and tally.sentences


def test_without_the_sockets_name_the_send_stays_untied_and_the_verdict_is_the_packets(tmp_path):
    row = _kernel_only(tmp_path, named=False).connections.set_index("flow").loc[FLOW]
    assert row["verdict"] == "WRITE_AFTER_PEER_FIN_RST" and pd.isna(row["calls_source"])
