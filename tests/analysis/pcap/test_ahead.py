"""ReadAhead: the fast engine's read, started on a thread before pandas is imported (what the CLI does)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from analysis.errors import CaptureFormatError
from analysis.pcap import fast
from analysis.pcap.ahead import ReadAhead, ReadStopped
from tests.conftest import REPO, SAMPLES

from .builders import TCP_ACK, epb, ether, idb, ipv4, pcap, shb, tcp

CAPTURES = sorted(SAMPLES.glob("*/capture.pcap"))


@pytest.mark.parametrize("path", CAPTURES[:3], ids=[p.parent.name for p in CAPTURES[:3]])
@pytest.mark.parametrize("lean", [False, True])
def test_the_read_ahead_table_is_the_fast_engines(path, lean):
    with ReadAhead(path) as ahead:
        table, report = ahead.table(lean=lean)
    expected, expected_report = fast.read(path, lean=lean)
    pd.testing.assert_frame_equal(table, expected)
    assert report == expected_report and len(table) > 0


def test_a_pcapng_read_in_small_windows_matches_too(tmp_path):
    segment = tcp(flags=TCP_ACK, payload=b"x" * 300)
    path = tmp_path / "two-interfaces.pcapng"
    path.write_bytes(shb() + idb(1) + idb(1, tsresol=9) + b"".join(epb(i % 2, i, ether(ipv4(segment))) for i in range(200)))
    with ReadAhead(path, chunk_bytes=2048) as ahead:
        table, report = ahead.table()
    expected, expected_report = fast.read(path, chunk_bytes=2048)
    pd.testing.assert_frame_equal(table, expected)
    assert report == expected_report and len(table) == 200


def test_a_failed_read_raises_from_table(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_text("not a capture at all\n")
    with ReadAhead(junk) as ahead, pytest.raises(CaptureFormatError, match="not a pcap or pcapng file"):
        ahead.table()


def test_the_read_runs_without_pandas():
    """The point of it: the whole read happens while pandas is not imported (the CLI imports it meanwhile)."""
    script = f"""
import sys, threading
from analysis.pcap.ahead import ReadAhead
done = threading.Event()
def progress(read, total):
    if read == total:
        print("pandas imported before the read ended:", "pandas" in sys.modules)
        done.set()
with ReadAhead({str(CAPTURES[0])!r}, progress) as ahead:
    assert done.wait(60)
    table, report = ahead.table()
print("rows:", len(table), "records:", report.records)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pandas imported before the read ended: False" in proc.stdout
    expected, report = fast.read(CAPTURES[0])
    assert f"rows: {len(expected)} records: {report.records}" in proc.stdout


def test_cancel_stops_the_read_at_the_next_window_and_ends_the_thread(tmp_path):
    segment = tcp(flags=TCP_ACK, payload=b"x" * 500)
    path = tmp_path / "long.pcap"
    path.write_bytes(pcap([(i, 0, ether(ipv4(segment))) for i in range(4000)]))
    windows = []

    def slow_progress(read, total):  # about 3 records a window: thousands of windows, unless stopped
        windows.append(read)
        time.sleep(0.002)

    ahead = ReadAhead(path, slow_progress, chunk_bytes=2048)
    time.sleep(0.05)
    started = time.monotonic()
    ahead.cancel()
    assert time.monotonic() - started < 1
    assert not [t for t in threading.enumerate() if t.name in ("read-ahead", "capture-read_0")]
    with pytest.raises(ReadStopped):
        ahead.table()
    assert 0 < len(windows) < 1000
