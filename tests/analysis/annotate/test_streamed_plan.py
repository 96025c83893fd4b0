"""A capture with no event log is annotated from the streamed connection table (no table of every packet),
its comments made a chunk of connections at a time: they are those the whole timeline gives, for a table
made of many chunks too."""

from __future__ import annotations

import numpy as np
import pytest

import analysis
import analysis.stream.outputs as outputs
import analysis.stream.passes as passes
import analysis.stream.reading as reading
from analysis.annotate import write
from analysis.annotate.comments import frame_comments
from analysis.inputs import Keep, Read
from tests.conftest import SAMPLES, corpus_files, corpus_params

CAPTURES = [SAMPLES / "go-curl-8061" / "capture.pcap",
            *corpus_params(corpus_files("zeek__nmap-vsn.pcap") + corpus_files("ppa3e__http_ip4and6.pcapng"))]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda c: getattr(c, "name", str(c)))
def test_the_streamed_plan_gives_the_whole_timelines_comments(capture, monkeypatch):
    monkeypatch.setattr(reading, "BATCH_ROWS", 5)
    monkeypatch.setattr(outputs, "TABLE_CHUNK", 2)  # the table is concatenated from many chunks
    monkeypatch.setattr(passes, "CHUNK_CONNECTIONS", 2)  # (those open at the end, too)
    streamed = write._analysis(capture, None, Read(), Keep(), True, False, None, None)
    timeline = analysis.load(capture)
    assert streamed.frames is None and streamed.connections == len(timeline.flows)
    got = streamed.comments
    expected = frame_comments(timeline.connections, timeline.packets[["conn", "frame", "ts_ns"]],
                              timeline.other_events)
    np.testing.assert_array_equal(got.frames, expected.frames)
    np.testing.assert_array_equal(got.bounds, expected.bounds)
    assert got.texts.to_pylist() == expected.texts.to_pylist()
    assert len(got.frames) >= len(timeline.flows)  # a verdict on every connection's first frame, at least
