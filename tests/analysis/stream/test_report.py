"""The text report keeps the first packets of a capture: the connections it explains are shown from them when
they are all among them, else the capture is read again up to their last packet. Either way the report is the
same: the same connections, the same rows, in the same order."""

from __future__ import annotations

import pandas as pd
import pytest

import analysis
import analysis.stream.exports as exports
import analysis.stream.reading as reading
from analysis import api
from tests.conftest import SAMPLES, corpus_files, corpus_params

READ_PASSES = exports.read_passes
NMAP = corpus_files("zeek__nmap-vsn.pcap")  # 17 connections, refused and reset, over 200 packets


def _report(path, monkeypatch, keep: int, details: int = 5):
    """The report, and how many times the capture was read."""
    passes = []

    def counted(*args, **kwargs):
        passes.append(kwargs.get("stop_after_frame"))
        return READ_PASSES(*args, **kwargs)

    monkeypatch.setattr(exports, "KEEP_PACKETS", keep)
    monkeypatch.setattr(exports, "read_passes", counted)
    report = api.report(path, details)
    return report, passes


@pytest.mark.parametrize("capture", [SAMPLES / "go-curl-8061" / "capture.pcap", *corpus_params(NMAP)],
                         ids=lambda c: getattr(c, "name", str(c)))
def test_the_kept_packets_or_a_second_read_give_the_same_report(capture, monkeypatch):
    monkeypatch.setattr(reading, "BATCH_ROWS", 7)  # many batches: the kept prefix ends inside the capture
    whole, passes = _report(capture, monkeypatch, keep=1 << 30)
    assert passes == [None], "a capture within the budget is read once"
    last = int(whole.shown["last_frame"].max())
    shown = whole.timeline.packets

    # nothing kept: read again, up to the last packet of the shown connections
    again, passes = _report(capture, monkeypatch, keep=0)
    assert passes == [None, last]
    # the batches up to the one holding the last shown packet kept; then one batch fewer: read again
    rows_upto = int((analysis.load(capture).packets["frame"] <= last).sum())
    batches_upto = -(-rows_upto // 7)
    prefix, prefix_passes = _report(capture, monkeypatch, keep=batches_upto * 7)
    short, short_passes = _report(capture, monkeypatch, keep=(batches_upto - 1) * 7)
    assert prefix_passes == [None] and short_passes == [None, last]
    for other in (again, prefix, short):
        pd.testing.assert_frame_equal(other.shown, whole.shown)
        pd.testing.assert_frame_equal(other.timeline.packets, shown)
        assert other.tally.counts == whole.tally.counts
    assert len(shown) and set(shown["conn"]) == set(whole.shown["conn"])
