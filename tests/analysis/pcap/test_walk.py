"""The record-length walk: the C module (_walk.c) against its Python reference (walk.walk_python).

The C walk is what makes a million records take milliseconds instead of a
third of a second; the install builds it (setup.py). In CI a missing build is
a failure, not a silent fallback to the slow loop.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.pcap import fast, walk
from tests.conftest import IN_CI, SAMPLES, corpus_files

from .builders import TCP_ACK, epb, ether, idb, ipv4, pcap, shb, tcp

needs_c = pytest.mark.skipif(not walk.ACCELERATED and not IN_CI,
                             reason="analysis/pcap/_walk.c is not built (needs gcc and python3-dev; then `make install`)")


def test_the_c_walk_is_built_where_ci_runs():
    if not walk.ACCELERATED:
        message = "analysis/pcap/_walk.c is not built: install gcc and python3-dev, then `pip install -e .` again"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _both(buf: bytes, off: int, end: int, len_at: int, len_add: int, big: bool, capacity: int):
    results = []
    for fn in (walk._walk_c, walk.walk_python):
        out = np.full(capacity, -1, dtype=np.int64)
        count, stop = fn(bytearray(buf), out, off, end, len_at, len_add, big)
        results.append((count, stop, out[:count].tolist()))
    return results


@needs_c
@settings(max_examples=400, deadline=None)
@given(lengths=st.lists(st.integers(0, 70), max_size=40), junk=st.binary(max_size=64), big=st.booleans(),
       layout=st.sampled_from([(8, 16), (4, 0)]), cut=st.integers(0, 64), capacity=st.integers(0, 50))
def test_c_and_python_walks_agree(lengths, junk, big, layout, cut, capacity):
    """Records with random lengths (pcap: caplen at +8, 16-byte header; pcapng: length at +4), then junk."""
    len_at, len_add = layout
    order = ">" if big else "<"
    buf = b""
    for n in lengths:
        header = bytes(len_at) + struct.pack(order + "I", n)
        buf += header + bytes(max(0, len_add + n - len(header)))
    buf += junk
    end = max(0, len(buf) - cut)
    c, py = _both(buf, 0, end, len_at, len_add, big, capacity)
    assert c == py


@needs_c
def test_walk_stops_on_a_zero_or_overlong_length():
    le = struct.pack("<I", 0)
    assert _both(bytes(4) + le + bytes(24), 0, 32, 4, 0, False, 10)[0] == (0, 0, [])  # pcapng length 0: no progress
    record = bytes(8) + struct.pack("<I", 4) + bytes(4) + b"abcd"  # 16 + 4 bytes
    huge = bytes(8) + struct.pack("<I", 0xFFFFFFFF) + bytes(4)
    for result in _both(record + huge, 0, 40, 8, 16, False, 10):
        assert result == (1, 20, [0])


def _tables_with_python_walk(monkeypatch, path, chunk_bytes):
    c_table, c_report = fast.read(path, chunk_bytes=chunk_bytes)
    monkeypatch.setattr(walk, "_walk_c", None)
    py_table, py_report = fast.read(path, chunk_bytes=chunk_bytes)
    monkeypatch.undo()
    return (c_table, c_report), (py_table, py_report)


CAPTURES = [p for p in sorted(SAMPLES.glob("*/capture.pcap*"))] + corpus_files()


@needs_c
@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}/{p.name}" for p in CAPTURES])
def test_real_captures_read_the_same_with_either_walk(monkeypatch, path):
    from analysis.errors import CaptureFormatError

    for chunk_bytes in (fast.CHUNK_BYTES, 1000):
        try:
            (c_table, c_report), (py_table, py_report) = _tables_with_python_walk(monkeypatch, path, chunk_bytes)
        except CaptureFormatError:  # a malformed corpus file: both walks must refuse it
            monkeypatch.setattr(walk, "_walk_c", None)
            with pytest.raises(CaptureFormatError):
                fast.read(path, chunk_bytes=chunk_bytes)
            monkeypatch.undo()
            continue
        pd.testing.assert_frame_equal(c_table, py_table)
        assert c_report == py_report


@needs_c
def test_built_captures_read_the_same_with_either_walk(monkeypatch, tmp_path):
    """Runs on a user's clone too (no corpus): a pcap and a two-interface pcapng, across window boundaries."""
    segment = tcp(flags=TCP_ACK, payload=b"x" * 300)
    files = {
        "a.pcap": pcap([(i, 0, ether(ipv4(segment))) for i in range(50)]),
        "b.pcapng": shb() + idb(1) + idb(1, tsresol=9) + b"".join(epb(i % 2, i, ether(ipv4(segment))) for i in range(50)),
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        (c_table, c_report), (py_table, py_report) = _tables_with_python_walk(monkeypatch, path, 1000)
        assert len(c_table) == 50
        pd.testing.assert_frame_equal(c_table, py_table)
        assert c_report == py_report
