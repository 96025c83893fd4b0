"""The two kinds of window (window.py): a file mapped a window at a time, or copied into buffers.

They must give the same table on every capture, and a file that shrinks
while it is read must give a warning and the rows before, never a crash.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
import pytest

from analysis.errors import CaptureFormatError
from analysis.pcap import fast, window
from tests.conftest import IN_CI, REPO, SAMPLES, corpus_files, corpus_params

from .builders import TCP_ACK, ether, ipv4, pcap, tcp

needs_guard = pytest.mark.skipif(window.bus_guard is None and not IN_CI,
                                 reason="the C module (analysis/pcap/csrc/) is not built (needs gcc and python3-dev; then `make install`)")

CAPTURES = [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in sorted(SAMPLES.glob("*/capture.pcap*"))] + corpus_params(corpus_files())
SMALL_WINDOW = 1000  # every capture above 4 KB is then mapped


def _read(path, mapped: bool, monkeypatch):
    monkeypatch.setattr(window, "MAP_FILES", mapped)
    try:
        return fast.read(path, chunk_bytes=SMALL_WINDOW)
    except CaptureFormatError as exc:
        return str(exc)
    finally:
        monkeypatch.undo()


@needs_guard
@pytest.mark.parametrize("path", CAPTURES)
def test_mapped_and_copied_windows_read_alike(monkeypatch, path):
    mapped, copied = _read(path, True, monkeypatch), _read(path, False, monkeypatch)
    if isinstance(mapped, str) or isinstance(copied, str):
        assert mapped == copied
        return
    pd.testing.assert_frame_equal(mapped[0], copied[0])
    assert mapped[1] == copied[1]


def _capture(records: int = 4000) -> bytes:
    segment = tcp(flags=TCP_ACK, payload=b"x" * 500)
    return pcap([(i, 0, ether(ipv4(segment))) for i in range(records)])


@needs_guard
def test_big_regular_files_are_mapped_and_the_rest_copied(tmp_path):
    big = tmp_path / "big.pcap"
    big.write_bytes(_capture())
    with open(big, "rb") as f:
        assert isinstance(window.open_window(f, 4096), window.MappedWindow)
        assert isinstance(window.open_window(f, 1 << 25), window.Window)  # under four windows
    assert isinstance(window.open_window(io.BytesIO(big.read_bytes()), 4096), window.Window)


@needs_guard
def test_a_file_truncated_between_windows_gives_the_rows_before_and_a_warning(tmp_path):
    path = tmp_path / "ring.pcap"
    content = _capture()
    path.write_bytes(content)
    whole, _ = fast.read(path, chunk_bytes=4096)

    def truncate_after_the_third_window(read, total, seen=[]):
        seen.append(read)
        if len(seen) == 3:
            with open(path, "r+b") as f:
                f.truncate(len(content) // 2)

    table, report = fast.read(path, chunk_bytes=4096, progress=truncate_after_the_third_window)
    assert any(f"shrank from {len(content)} to {len(content) // 2} bytes" in w for w in report.warnings)
    assert 0 < len(table) < len(whole)
    pd.testing.assert_frame_equal(table, whole.iloc[: len(table)])


@needs_guard
def test_a_file_truncated_under_a_mapped_window_reads_zeros_instead_of_dying(tmp_path):
    """A SIGBUS would kill the process: run it in a child, which must exit 0 and report what it saw."""
    path = tmp_path / "shrinking.pcap"
    path.write_bytes(_capture())
    script = f"""
import numpy as np
from analysis.pcap.window import MappedWindow
with open({str(path)!r}, "rb") as f:
    w = MappedWindow(f, 65536, {len(_capture())})
    w.refill()
    with open({str(path)!r}, "r+b") as g:
        g.truncate(10_000)
    data = w.array()
    print("past the new end:", int(data[40_000:50_000].max()), "before it:", int(data[:10_000].max()))
    w.refill()
    print(w.warnings)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    assert "past the new end: 0 before it: 255" in proc.stdout
    assert "shrank from" in proc.stdout and "to 10000 bytes" in proc.stdout
