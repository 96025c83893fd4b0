"""pcap / pcapng containers on literal bytes: byte orders, resolutions, interfaces, sections."""

from __future__ import annotations

from .builders import TCP_ACK, TCP_SYN, epb, ether, idb, ipv4, nrb, opb, pcap, pcapng_file, shb, spb, tcp

SYN = ether(ipv4(tcp(seq=7, flags=TCP_SYN)))


def test_pcap_microseconds_little_endian(read_bytes):
    df, report = read_bytes(pcap([(1_700_000_000, 123_456, SYN)]))
    assert df["ts_ns"].tolist() == [1_700_000_000_123_456_000]
    assert df["frame"].tolist() == [1] and report.records == 1 and report.tcp_packets == 1


def test_pcap_nanoseconds_big_endian(read_bytes):
    df, _ = read_bytes(pcap([(1_700_000_000, 123_456_789, SYN), (1_700_000_001, 5, SYN)], order=">", nano=True))
    assert df["ts_ns"].tolist() == [1_700_000_000_123_456_789, 1_700_000_001_000_000_005]
    assert df["seq_raw"].tolist() == [7, 7]


def test_pcap_fields_of_one_segment(read_bytes):
    segment = tcp(sport=3000, dport=59004, seq=4_000_000_000, ack=17, flags=TCP_ACK | 0x08, win=512, payload=b"x" * 10)
    df, _ = read_bytes(pcap([(1, 0, ether(ipv4(segment, src=b"\x7f\x00\x00\x01", dst=b"\xc0\xa8\x01\x02")))]))
    row = df.iloc[0]
    assert (row["src"], row["dst"], row["sport"], row["dport"]) == ("127.0.0.1", "192.168.1.2", 3000, 59004)
    assert (row["flags"], row["seq_raw"], row["ack_raw"], row["len"], row["win"]) == (0x18, 4_000_000_000, 17, 10, 512)
    assert row["ip_version"] == 4 and row["vlan"] == "" and not row["truncated"]


def test_pcapng_interfaces_have_their_own_resolution_offset_and_link_type(read_bytes):
    from .builders import sll

    content = (
        shb()
        + idb(linktype=1)  # default: microseconds
        + idb(linktype=113, tsresol=9, tsoffset=100)  # nanoseconds, +100 s
        + idb(linktype=1, tsresol=0x80 | 10)  # 2^-10 s
        + nrb()
        + epb(0, 1_700_000_000_000_001, SYN)
        + epb(1, 1_700_000_000_000_000_002, sll(ipv4(tcp())))
        + epb(2, 1025, SYN)
    )
    df, report = read_bytes(content, ".pcapng")
    assert df["iface"].tolist() == [0, 1, 2]
    assert df["ts_ns"].tolist() == [1_700_000_000_000_001_000, 1_700_000_100_000_000_002, 1_000_976_562]
    assert report.records == 3


def test_pcapng_sections_switch_byte_order_and_restart_interfaces(read_bytes):
    content = shb("<") + idb(order="<") + epb(0, 1, SYN, order="<") + shb(">") + idb(order=">") + epb(0, 2, SYN, order=">")
    df, _ = read_bytes(content, ".pcapng")
    assert df["frame"].tolist() == [1, 2]
    assert df["iface"].tolist() == [0, 0]  # ids restart in each section; tshark 4.0 prints them so
    assert df["ts_ns"].tolist() == [1000, 2000]


def test_pcapng_simple_and_obsolete_packet_blocks(read_bytes):
    content = shb() + idb(snaplen=0) + spb(SYN) + opb(0, 5, SYN) + epb(0, 6, SYN)
    df, _ = read_bytes(content, ".pcapng")
    assert df["frame"].tolist() == [1, 2, 3]
    assert df["ts_ns"].tolist() == [0, 5000, 6000]  # a Simple Packet Block has no timestamp


def test_pcapng_file_helper_roundtrip(read_bytes):
    df, _ = read_bytes(pcapng_file([SYN, SYN]), ".pcapng")
    assert len(df) == 2


def test_every_tsresol_converts_exactly_and_says_what_int64_cannot_hold():
    """All 256 if_tsresol values, ticks across uint64, offsets past int64 either way: numpy equals exact integers."""
    import random

    import numpy as np

    from analysis.pcap.formats import TsResolution

    rng = random.Random(13)
    ticks = [0, 1, 5, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 1_700_000_000_123_456_789]
    ticks += [rng.getrandbits(rng.randint(1, 64)) for _ in range(60)]
    int64 = range(-(2**63), 2**63)
    for tsresol in range(256):
        per_second = (2 if tsresol & 0x80 else 10) ** (tsresol & 0x7F)
        resolution = TsResolution.from_option(tsresol)
        for offset_s in (0, -100, 9_200_000_000, 9_300_000_000, -9_300_000_000, 2**63):
            ts_ns, fits = resolution.ticks_to_ns(np.array(ticks, dtype=np.uint64), offset_s * 10**9)
            exact = [t * 10**9 // per_second + offset_s * 10**9 for t in ticks]
            assert fits.tolist() == [ns in int64 for ns in exact], (tsresol, offset_s)
            assert ts_ns.tolist() == [ns if ns in int64 else 0 for ns in exact], (tsresol, offset_s)
