"""The public corpus: every file read, compared with tshark row for row, and the engines agree.

tshark (the oracle) runs here through subprocess; analysis code itself never does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import CaptureFormatError
from analysis.pcap import iter_packet_chunks, read_packets
from analysis.pcap import fast
from tests.conftest import SAMPLES, corpus_files, corpus_params, require_tools

FILES = corpus_files()

#: The deliberately malformed files (corpus README): None = CaptureFormatError, else the rows kept.
MALFORMED = {
    "libpcap__pcap-truncated-hdr-23.pcap": None,
    "libpcap__shb-option-too-long.pcapng": None,
    "suricata__fuzz-bug-6875.pcap": 0,
    "suricata__http-mime-truncated.pcap": 2696,
    "suricata__tls_DER-incomplete-header.pcap": 6,
}
#: tshark prints meaningless times for out-of-range sub-second fields (corpus README); we keep sec*1e9 + field*tick.
ODD_TIMES = {"tcpdump__timestamp_invalid_micro.pcap", "tcpdump__timestamp_invalid_nano.pcap"}
#: pyshark is slow (a PDML parse per packet): skip the two 2.6 MB files, keep every link type.
PYSHARK_MAX_BYTES = 200_000

TSHARK_FIELDS = {
    "frame": "frame.number",
    "ts_ns": "frame.time_epoch",
    "iface": "frame.interface_id",
    "vlan": "vlan.id",
    "src4": "ip.src",
    "dst4": "ip.dst",
    "src6": "ipv6.src",
    "dst6": "ipv6.dst",
    "sport": "tcp.srcport",
    "dport": "tcp.dstport",
    "flags": "tcp.flags",
    "seq_raw": "tcp.seq_raw",
    "ack_raw": "tcp.ack_raw",
    "len": "tcp.len",
    "win": "tcp.window_size_value",
}


def _epoch_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 10**9 + int((fraction + "0" * 9)[:9])


def tshark_table(path: Path) -> pd.DataFrame:
    cmd = ["tshark", "-r", str(path), "-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=;",
           "-Y", "tcp", "-o", "tcp.analyze_sequence_numbers:FALSE"]
    for field in TSHARK_FIELDS.values():
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    rows = [dict(zip(TSHARK_FIELDS, line.split("\t"))) for line in out.splitlines()]
    return pd.DataFrame({
        "frame": [int(r["frame"]) for r in rows],
        "ts_ns": [_epoch_ns(r["ts_ns"]) if not r["ts_ns"].startswith("-") else None for r in rows],
        "iface": [int(r["iface"] or 0) for r in rows],
        "vlan": [r["vlan"] for r in rows],
        "src": [r["src4"] or r["src6"] for r in rows],
        "dst": [r["dst4"] or r["dst6"] for r in rows],
        **{k: [int(r[k]) for r in rows] for k in ("sport", "dport", "seq_raw", "ack_raw", "len", "win")},
        "flags": [int(r["flags"], 16) for r in rows],
    })


def _read_or_none(path: Path, engine: str):
    try:
        return read_packets(path, engine=engine)
    except CaptureFormatError:
        return None


@pytest.mark.parametrize("path", corpus_params(FILES))
def test_every_corpus_file_reads_or_fails_clearly(corpus, path):
    result = _read_or_none(path, "fast")
    expected = MALFORMED.get(path.name, "ok")
    if expected is None:
        assert result is None
        return
    assert result is not None
    df, report = result
    if path.name in MALFORMED:
        assert len(df) == expected
        assert any("byte offset" in w for w in report.warnings)
    else:
        assert report.warnings == [] or path.name in ODD_TIMES
        assert report.records >= len(df) > 0


@pytest.mark.parametrize("path", corpus_params(FILES))
def test_fast_table_equals_tshark_row_for_row(corpus, path):
    require_tools("tshark")
    result = _read_or_none(path, "fast")
    oracle = tshark_table(path)
    if result is None:
        assert oracle.empty
        return
    df = result[0]
    columns = ["frame", "iface", "vlan", "src", "dst", "sport", "dport", "flags", "seq_raw", "ack_raw", "len", "win"]
    if path.name not in ODD_TIMES:
        columns.insert(1, "ts_ns")
    ours = df[columns].astype(object).reset_index(drop=True)
    theirs = oracle[columns].astype(object).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


@pytest.mark.parametrize("path", corpus_params(FILES))
def test_scapy_engine_gives_the_same_table(corpus, path):
    fast_result, scapy_result = _read_or_none(path, "fast"), _read_or_none(path, "scapy")
    assert (fast_result is None) == (scapy_result is None)
    if fast_result is not None:
        pd.testing.assert_frame_equal(fast_result[0], scapy_result[0])
        assert fast_result[1] == scapy_result[1]


@pytest.mark.slow
@pytest.mark.parametrize("path", corpus_params([p for p in FILES if p.stat().st_size <= PYSHARK_MAX_BYTES]))
def test_pyshark_engine_gives_the_same_table(corpus, path):
    require_tools("tshark")
    fast_result, pyshark_result = _read_or_none(path, "fast"), _read_or_none(path, "pyshark")
    assert (fast_result is None) == (pyshark_result is None)
    if fast_result is None:
        return
    ours, theirs = fast_result[0], pyshark_result[0]
    if path.name in ODD_TIMES:
        ours, theirs = ours.drop(columns="ts_ns"), theirs.drop(columns="ts_ns")
    pd.testing.assert_frame_equal(ours, theirs)


@pytest.mark.parametrize("path", corpus_params([p for p in FILES if p.name not in MALFORMED or MALFORMED[p.name]]))
def test_small_windows_and_chunks_give_the_same_table(corpus, path):
    whole, report = read_packets(path)
    for chunk_bytes in (64, 1000, 70_000):  # windows smaller than a record grow; boundaries fall everywhere
        df, small_report = fast.read(path, chunk_bytes=chunk_bytes)
        pd.testing.assert_frame_equal(whole, df)
        assert small_report == report
    pieces = list(iter_packet_chunks(path, chunk_records=50))
    pd.testing.assert_frame_equal(whole, pd.concat(pieces, ignore_index=True))


SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*/*") if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[p.parent.name for p in SAMPLE_FILES])
def test_sample_captures_three_engines_and_tshark_agree(path):
    require_tools("tshark")
    table, report = read_packets(path)
    assert len(table) > 0 and report.warnings == []
    for engine in ("scapy", "pyshark"):
        pd.testing.assert_frame_equal(table, read_packets(path, engine=engine)[0])
    columns = ["frame", "ts_ns", "iface", "vlan", "src", "dst", "sport", "dport", "flags", "seq_raw", "ack_raw", "len", "win"]
    pd.testing.assert_frame_equal(table[columns].astype(object), tshark_table(path)[columns].astype(object), check_dtype=False)


def test_pyshark_engine_on_literal_edge_cases(tmp_path):
    """Fragments, VLAN stacks, IPv6 extension headers, snaplen cuts: pyshark agrees with fast."""
    require_tools("tshark")
    from .builders import TCP_ACK, ether, ext_fragment, ext_generic, ipv4, ipv6, pcap, tcp

    segment = tcp(flags=TCP_ACK, payload=b"y" * 40)
    frames = [
        ether(ipv4(segment, frag=0x2000)),
        ether(ipv4(segment[:8], frag=0x0010)),
        ether(ipv6(segment, ext=[(44, ext_fragment(0, True))]), 0x86DD),
        ether(ipv6(segment, ext=[(0, ext_generic(0)), (60, ext_generic(1))]), 0x86DD),
        ether(ipv4(segment), vlans=(10, 20), tpids=(0x88A8, 0x8100)),
        ether(ipv4(segment, options=b"\\x01" * 4)),
    ]
    records = [(1, i, f) for i, f in enumerate(frames)] + [(2, 0, frames[4][:70], len(frames[4]))]
    path = tmp_path / "edge.pcap"
    path.write_bytes(pcap(records))
    ours = read_packets(path)[0]
    assert ours["frame"].tolist() == [4, 5, 6, 7]
    pd.testing.assert_frame_equal(ours, read_packets(path, engine="pyshark")[0])
