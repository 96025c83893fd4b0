"""Bad input (issue part 7): a clear error when nothing is readable, else the rows before the damage + a warning."""

from __future__ import annotations

import struct

import pytest

from analysis.errors import CaptureFormatError

from .builders import epb, ether, idb, ipv4, pcap, shb, tcp

SYN = ether(ipv4(tcp()))


def test_not_a_capture_says_so(read_bytes):
    with pytest.raises(CaptureFormatError, match=r"not a pcap or pcapng file \(magic 3c68746d\)"):
        read_bytes(b"<html><body>nope</body></html>")


def test_empty_file_is_not_a_capture(read_bytes):
    with pytest.raises(CaptureFormatError, match="not a pcap or pcapng file"):
        read_bytes(b"")


def test_file_header_cut_short(read_bytes):
    with pytest.raises(CaptureFormatError, match="cut short"):
        read_bytes(pcap([])[:23])


def test_header_only_pcap_is_an_empty_table_not_an_error(read_bytes):
    df, report = read_bytes(pcap([]))
    assert len(df) == 0 and report.records == 0 and report.warnings == []


def test_truncated_last_record_keeps_the_rows_before_it(read_bytes):
    content = pcap([(1, 0, SYN), (2, 0, SYN), (3, 0, SYN)])
    cut = len(content) - 10
    df, report = read_bytes(content[:cut])
    assert df["frame"].tolist() == [1, 2]
    last_record_at = 24 + 2 * (16 + len(SYN))
    assert report.warnings == [f"file truncated at byte offset {last_record_at}: last record has {cut - last_record_at} of {16 + len(SYN)} bytes; stopped reading there"]


def test_truncated_record_header(read_bytes):
    content = pcap([(1, 0, SYN)]) + b"\x01\x02\x03"
    df, report = read_bytes(content)
    assert len(df) == 1 and "byte offset" in report.warnings[0]


def test_huge_caplen_is_not_allocated(read_bytes):
    bogus = struct.pack("<IIII", 3, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"\x00" * 64
    df, report = read_bytes(pcap([(1, 0, SYN)]) + bogus)
    assert len(df) == 1
    assert report.warnings[0].startswith("damaged record at byte offset 94: it claims 2147483647 captured bytes")


def test_garbage_mid_file_stops_there(read_bytes):
    good = pcap([(1, 0, SYN), (2, 0, SYN)])
    garbage = b"\xff" * 40
    df, report = read_bytes(good + garbage + pcap([(3, 0, SYN)])[24:])
    assert df["frame"].tolist() == [1, 2]
    assert f"byte offset {len(good)}" in report.warnings[0]


def test_damage_before_any_record_is_an_error(read_bytes):
    bogus = struct.pack("<IIII", 3, 0, 0x7FFFFFFF, 0x7FFFFFFF)
    with pytest.raises(CaptureFormatError, match="no packet could be read"):
        read_bytes(pcap([]) + bogus)


def test_pcapng_block_with_bad_length(read_bytes):
    content = shb() + idb() + epb(0, 1, SYN) + struct.pack("<II", 6, 13) + b"\x00" * 20
    df, report = read_bytes(content, ".pcapng")
    assert len(df) == 1 and "block length 13" in report.warnings[0]


def test_pcapng_unknown_interface(read_bytes):
    df, report = read_bytes(shb() + idb() + epb(0, 1, SYN) + epb(5, 2, SYN), ".pcapng")
    assert len(df) == 1 and "unknown interface id 5" in report.warnings[0]


def test_pcapng_truncated_block(read_bytes):
    content = shb() + idb() + epb(0, 1, SYN) + epb(0, 2, SYN)
    df, report = read_bytes(content[:-7], ".pcapng")
    assert len(df) == 1 and "truncated at byte offset" in report.warnings[0]


def test_pcapng_section_option_past_its_block(read_bytes):
    bad_option = struct.pack("<HH", 3, 3000) + b"abcd"
    with pytest.raises(CaptureFormatError, match="option runs past its block"):
        read_bytes(shb(options=bad_option) + idb() + epb(0, 1, SYN), ".pcapng")


def test_invalid_timestamps_are_kept_and_reported(read_bytes):
    df, report = read_bytes(pcap([(10, 999_999, SYN), (10, 1_000_000, SYN), (10, 2_147_483_648, SYN)]))
    assert df["ts_ns"].tolist() == [10_999_999_000, 11_000_000_000, 10 * 10**9 + 2_147_483_648_000]
    assert any("out of range" in w and "frame 2" in w for w in report.warnings)
