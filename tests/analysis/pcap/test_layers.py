"""Link types, VLANs, IPv4/IPv6 headers and snaplen truncation, on literal bytes."""

from __future__ import annotations

import pytest

from .builders import (
    TCP_ACK,
    TCP_PSH,
    ether,
    ext_fragment,
    ext_generic,
    ipv4,
    ipv6,
    null,
    pcap,
    sll,
    sll2,
    tcp,
)

SEGMENT = tcp(sport=1234, dport=80, seq=5, ack=6, flags=TCP_ACK | TCP_PSH, payload=b"hello")
V6_SRC = bytes.fromhex("20010db8000000000000000000000001")
V6_DST = bytes.fromhex("00000000000000000000ffff7f000001")


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (1, ether(ipv4(SEGMENT))),
        (113, sll(ipv4(SEGMENT))),
        (276, sll2(ipv4(SEGMENT))),
        (0, null(ipv4(SEGMENT), 2, "<")),
        (0, null(ipv4(SEGMENT), 2, ">")),  # written on a big-endian host
        (108, null(ipv4(SEGMENT), 2, ">")),  # OpenBSD LOOP: always network order
        (101, ipv4(SEGMENT)),
        (12, ipv4(SEGMENT)),
        (14, ipv4(SEGMENT)),
        (228, ipv4(SEGMENT)),
    ],
)
def test_every_supported_link_type_finds_the_segment(read_bytes, linktype, frame):
    df, report = read_bytes(pcap([(1, 0, frame)], linktype=linktype))
    assert df[["sport", "dport", "seq_raw", "ack_raw", "len"]].values.tolist() == [[1234, 80, 5, 6, 5]]
    assert report.non_tcp == 0 and report.skipped_linktypes == {}


@pytest.mark.parametrize(("linktype", "frame"), [(229, ipv6(SEGMENT, V6_SRC, V6_DST)), (0, null(ipv6(SEGMENT, V6_SRC, V6_DST), 30)), (101, ipv6(SEGMENT, V6_SRC, V6_DST))])
def test_ipv6_addresses_are_compressed_like_tshark(read_bytes, linktype, frame):
    df, _ = read_bytes(pcap([(1, 0, frame)], linktype=linktype))
    assert (df["src"][0], df["dst"][0], df["ip_version"][0]) == ("2001:db8::1", "::ffff:127.0.0.1", 6)


def test_an_ipv6_address_with_an_ipv4_ones_bytes_keeps_its_own_text(read_bytes):
    """The reader keeps IPv4 addresses in 16 bytes, zero-padded: 7f00:1:: has 127.0.0.1's bytes, and
    7f00:1:0:2:: had them once the IP version was XORed into the key. Each must keep its own text."""
    v4, v4_other = b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02"
    frames = [ether(ipv4(SEGMENT, v4, v4_other)),
              ether(ipv6(SEGMENT, v4 + bytes(12), v4 + bytes(3) + b"\x02" + bytes(8)), 0x86DD),
              ether(ipv4(SEGMENT, v4_other, v4))]
    df, _ = read_bytes(pcap([(1, 0, f) for f in frames]))
    assert df[["src", "dst"]].values.tolist() == [["127.0.0.1", "127.0.0.2"], ["7f00:1::", "7f00:1:0:2::"],
                                                   ["127.0.0.2", "127.0.0.1"]]


def test_vlan_stacks_outer_first(read_bytes):
    frames = [
        ether(ipv4(SEGMENT)),
        ether(ipv4(SEGMENT), vlans=(42,)),
        ether(ipv4(SEGMENT), vlans=(10, 20), tpids=(0x88A8, 0x8100)),  # 802.1ad QinQ
        ether(ipv4(SEGMENT), vlans=(0,)),  # priority tag, VID 0
        sll(ether(b"", 0x0800)[:0] + b"\x00\x07\x08\x00" + ipv4(SEGMENT), proto=0x8100),  # SLL carrying a tag
    ]
    df, _ = read_bytes(pcap([(1, 0, f) for f in frames[:4]]))
    assert df["vlan"].tolist() == ["", "42", "10;20", "0"]
    df, _ = read_bytes(pcap([(1, 0, frames[4])], linktype=113))
    assert df["vlan"].tolist() == ["7"]


def test_ipv4_options_move_the_tcp_header(read_bytes):
    df, _ = read_bytes(pcap([(1, 0, ether(ipv4(SEGMENT, options=b"\x01\x01\x01\x00")))]))
    assert df[["sport", "len"]].values.tolist() == [[1234, 5]]


def test_tcp_length_comes_from_ip_lengths_not_padding(read_bytes):
    padded = ether(ipv4(tcp(flags=TCP_ACK))) + bytes(6)  # Ethernet minimum-frame padding
    df, _ = read_bytes(pcap([(1, 0, padded)]))
    assert df["len"].tolist() == [0] and not df["truncated"][0]


def test_ipv4_total_length_zero_means_tso(read_bytes):
    df, _ = read_bytes(pcap([(1, 0, ether(ipv4(SEGMENT, total_len=0)))]))
    assert df["len"].tolist() == [5]


def test_ipv6_extension_headers_are_walked(read_bytes):
    chain = [(0, ext_generic(0)), (60, ext_generic(1)), (43, ext_generic(0)), (44, ext_fragment(0, False))]
    df, _ = read_bytes(pcap([(1, 0, ether(ipv6(SEGMENT, V6_SRC, V6_DST, ext=chain), 0x86DD))]))
    assert df[["sport", "dport", "len"]].values.tolist() == [[1234, 80, 5]]


@pytest.mark.parametrize("frame", [
    ether(ipv4(SEGMENT, frag=0x2000)),  # IPv4 first fragment (MF)
    ether(ipv4(SEGMENT[:8], frag=0x0010)),  # IPv4 later fragment
    ether(ipv6(SEGMENT, V6_SRC, V6_DST, ext=[(44, ext_fragment(0, True))]), 0x86DD),
    ether(ipv4(SEGMENT, proto=17)),  # UDP
    ether(b"\x00" * 28, 0x0806),  # ARP
])
def test_fragments_and_other_protocols_are_counted_not_listed(read_bytes, frame):
    df, report = read_bytes(pcap([(1, 0, frame)]))
    assert len(df) == 0 and report.records == 1 and report.non_tcp == 1


def test_snaplen_cutting_the_payload_marks_truncated(read_bytes):
    frame = ether(ipv4(tcp(payload=b"x" * 1000)))
    df, _ = read_bytes(pcap([(1, 0, frame[:96], len(frame))], snaplen=96))
    assert df["len"].tolist() == [1000] and df["truncated"].tolist() == [True]


def test_snaplen_cutting_tcp_options_marks_truncated(read_bytes):
    frame = ether(ipv4(tcp(options=b"\x01" * 12)))
    df, _ = read_bytes(pcap([(1, 0, frame[:14 + 20 + 24], len(frame))]))
    assert df["truncated"].tolist() == [True] and df["len"].tolist() == [0]


def test_snaplen_cutting_the_fixed_tcp_header_is_counted(read_bytes):
    frame = ether(ipv4(SEGMENT))
    df, report = read_bytes(pcap([(1, 0, frame[:14 + 20 + 12], len(frame))]))
    assert len(df) == 0 and report.non_tcp == 1
    assert any("20-byte TCP header cut" in w for w in report.warnings)


def test_unsupported_link_type_is_named_and_counted(read_bytes):
    df, report = read_bytes(pcap([(1, 0, b"\x00" * 40), (2, 0, b"\x00" * 40)], linktype=105))
    assert len(df) == 0 and report.records == 2
    assert report.skipped_linktypes == {"IEEE802_11": 2}


def test_frames_count_every_record(read_bytes):
    records = [(1, 0, ether(b"\x00" * 28, 0x0806)), (2, 0, ether(ipv4(SEGMENT))), (3, 0, ether(ipv4(SEGMENT, proto=17))), (4, 0, ether(ipv4(SEGMENT)))]
    df, report = read_bytes(pcap(records))
    assert df["frame"].tolist() == [2, 4] and report.records == 4 and report.non_tcp == 2
