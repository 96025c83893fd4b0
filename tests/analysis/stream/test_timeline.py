"""The streamed timeline is in time order even when capture timestamps step back across batches, and exports
(parquet, csv, jsonl, json) read back as the whole timeline built in memory."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

import analysis
import analysis.stream.reading as reading
import analysis.stream.timeline as timeline_rows
from analysis.api import export_timeline
from analysis.export import export
from tests.analysis.pcap import builders as b
from tests.conftest import SAMPLES


def stepping_back(path, step_back_s: int) -> None:
    """Two connections, each packet on its own; the second connection's packets are stamped ``step_back_s``
    seconds before the first's although they come later in the file (two CPUs, two clocks)."""
    records = []
    for conn, (port, base) in enumerate(((40000, 100), (40001, 100 - step_back_s))):
        for i, (flags, client) in enumerate(((b.TCP_SYN, True), (b.TCP_SYN | b.TCP_ACK, False), (b.TCP_ACK, True),
                                             (b.TCP_FIN | b.TCP_ACK, True), (b.TCP_FIN | b.TCP_ACK, False),
                                             (b.TCP_ACK, True))):
            src, dst = (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02") if client else (b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01")
            segment = b.tcp(sport=port if client else 80, dport=80 if client else port, seq=1000 + i, ack=2000 + i,
                            flags=flags)
            records.append((base + i, 0, b.ether(b.ipv4(segment, src=src, dst=dst))))
    path.write_bytes(b.pcap(records))


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(reading, "BATCH_ROWS", 2)
    monkeypatch.setattr(timeline_rows, "SLACK_NS", 0)  # hold back only the step backs already seen
    starts = []
    real_start = timeline_rows.TimelineRows.start
    monkeypatch.setattr(timeline_rows.TimelineRows, "start", lambda self, a: (starts.append(a), real_start(self, a)))
    return starts


def _expected(path) -> pd.DataFrame:
    out = io.BytesIO()
    export(analysis.load(path).events, "parquet", out)
    return pd.read_parquet(io.BytesIO(out.getvalue()))


def test_a_step_back_bigger_than_any_before_it_makes_the_pass_run_again_in_time_order(tmp_path, small_batches):
    capture = tmp_path / "two-clocks.pcap"
    stepping_back(capture, step_back_s=50)
    summary = export_timeline(capture, "parquet", tmp_path / "t.parquet")
    written = pd.read_parquet(tmp_path / "t.parquet")
    assert small_batches == [0, 1]  # the first pass had let rows go that a later, older packet should precede
    assert summary.rows == 12
    assert written["ts_ns"].is_monotonic_increasing
    pd.testing.assert_frame_equal(written, _expected(capture))


def test_small_step_backs_are_held_back_in_one_pass(tmp_path, small_batches, monkeypatch):
    monkeypatch.setattr(timeline_rows, "SLACK_NS", 60 * 10**9)
    capture = tmp_path / "two-clocks.pcap"
    stepping_back(capture, step_back_s=50)
    export_timeline(capture, "parquet", tmp_path / "t.parquet")
    assert small_batches == [0]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), _expected(capture))


READERS = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True),
           "json": lambda p: pd.DataFrame(json.loads(p.read_text()))}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_text_formats_streamed_a_batch_at_a_time_are_the_whole_export(tmp_path, fmt, monkeypatch):
    monkeypatch.setattr(reading, "BATCH_ROWS", 3)
    capture = SAMPLES / "go-half-close" / "capture.pcap"
    export_timeline(capture, fmt, tmp_path / f"streamed.{fmt}")
    export(analysis.load(capture).events, fmt, tmp_path / f"whole.{fmt}")
    assert (tmp_path / f"streamed.{fmt}").read_text() == (tmp_path / f"whole.{fmt}").read_text()
    assert len(READERS[fmt](tmp_path / f"streamed.{fmt}")) == 15
