"""BatchRead: a capture set read on a thread a batch at a time, frames running on, each row knowing its file."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from analysis.errors import CaptureFormatError
from analysis.pcap import read_packets
from analysis.pcap import stream as pcap_stream
from analysis.stream.files import capture_set
from analysis.stream.reading import BatchRead
from analysis.stream.source import batch_frame
from tests.analysis.stream.pieces import cut
from tests.conftest import SAMPLES

CAPTURE = SAMPLES / "go-half-close" / "capture.pcap"


def test_batches_of_exactly_the_rows_asked_for_across_files_with_frames_running_on(tmp_path):
    cut(CAPTURE, tmp_path, 4)
    done = []
    with BatchRead(capture_set([tmp_path]), progress=lambda n, total: done.append((n, total)), batch_rows=6) as read:
        tables = [batch_frame(batch) for batch in read]
    assert [len(t) for t in tables] == [6, 6, 3]
    whole = read_packets(CAPTURE)[0]
    joined = np.concatenate([t["frame"].to_numpy() for t in tables])
    assert joined.tolist() == whole["frame"].tolist()
    assert np.concatenate([t["file"].to_numpy() for t in tables]).tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 3
    assert read.report.tcp_packets == read.report.records == 15
    assert done[-1][0] == done[-1][1] == sum(p.stat().st_size for p in tmp_path.iterdir())


def test_a_damaged_piece_warns_under_its_name_and_keeps_what_came_before(tmp_path):
    pieces = cut(SAMPLES / "go-curl-8061" / "capture.pcap", tmp_path, 5)
    pieces[-1].write_bytes(pieces[-1].read_bytes()[:-7])  # the last record cut short
    with BatchRead(capture_set([tmp_path])) as read:
        rows = sum(len(batch_frame(batch)) for batch in read)
    assert rows == 8
    [warning] = read.report.warnings
    assert warning.startswith("part1: file truncated at byte offset")


def test_a_file_that_is_not_a_capture_in_a_set_is_a_one_line_error(tmp_path):
    cut(CAPTURE, tmp_path, 8)
    (tmp_path / "notes.pcap").write_text("not a capture at all")
    with pytest.raises(CaptureFormatError, match="notes.pcap: not a pcap or pcapng file"):
        capture_set([tmp_path / "part", tmp_path / "notes.pcap"])


def test_cancel_stops_the_thread_at_its_next_window(monkeypatch, tmp_path):
    cut(CAPTURE, tmp_path, 1)
    real_decode = pcap_stream.decode
    monkeypatch.setattr(pcap_stream, "decode", lambda batch: (time.sleep(0.05), real_decode(batch))[1])
    read = BatchRead(capture_set([tmp_path]), batch_rows=1)
    next(iter(read))
    read.cancel()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
