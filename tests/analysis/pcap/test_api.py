"""The public surface: engines registry, progress callback, chunked reading, missing files."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import CaptureFormatError
from analysis.pcap import ENGINES, PACKET_COLUMNS, iter_packet_chunks, read_packets
from analysis.pcap import fast
from analysis.pcap.columns import empty_packets
from tests.conftest import require_tools

from .builders import ether, ipv4, pcap, tcp


def test_engines_registry_names_the_three_engines():
    assert set(ENGINES) == {"fast", "scapy", "pyshark"}


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown capture engine 'dpkt'"):
        read_packets(tmp_path / "x.pcap", engine="dpkt")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CaptureFormatError, match="no such capture file"):
        read_packets(tmp_path / "missing.pcap")
    with pytest.raises(CaptureFormatError, match="not a file"):
        read_packets(tmp_path)


def test_table_has_exactly_the_contract_columns_and_dtypes(read_bytes):
    df, _ = read_bytes(pcap([(1, 0, ether(ipv4(tcp())))]))
    assert list(df.columns) == list(PACKET_COLUMNS)
    assert df.dtypes.to_dict() == empty_packets().dtypes.to_dict()


def test_progress_reports_bytes_up_to_the_total(tmp_path):
    content = pcap([(i, 0, ether(ipv4(tcp(seq=i)))) for i in range(2000)])
    path = tmp_path / "p.pcap"
    path.write_bytes(content)
    calls: list[tuple[int, int]] = []
    df, _ = fast.read(path, progress=lambda done, total: calls.append((done, total)), chunk_bytes=10_000)
    assert len(df) == 2000
    assert len(calls) > 5 and calls[-1] == (len(content), len(content))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_chunks_concatenate_to_the_whole_table(tmp_path):
    content = pcap([(i, 0, ether(ipv4(tcp(seq=i), src=bytes([10, 0, i % 7, 1])))) for i in range(3000)])
    path = tmp_path / "c.pcap"
    path.write_bytes(content)
    whole, _ = read_packets(path)
    pieces = list(fast.iter_chunks(path, chunk_records=500, chunk_bytes=8_000))
    assert len(pieces) > 3
    pd.testing.assert_frame_equal(whole, pd.concat(pieces, ignore_index=True))
    assert sum(len(p) for p in iter_packet_chunks(path)) == 3000


def test_the_pyshark_engine_leaves_asyncio_as_it_found_it(tmp_path):
    """It swaps in its own child watcher while tshark runs; the process's own asyncio set-up must come back."""
    import asyncio
    import warnings

    require_tools("tshark")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if not hasattr(asyncio, "SafeChildWatcher"):
            pytest.skip("Python without child watchers (3.14+)")
        before = asyncio.get_child_watcher()
    path = tmp_path / "one.pcap"
    path.write_bytes(pcap([(1, 0, ether(ipv4(tcp())))]))
    assert len(read_packets(path, engine="pyshark")[0]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert asyncio.get_child_watcher() is before
