"""Edge-case captures, generated: each one a way a reader could lie about a file tshark reads (issue 13).

Every case is a small capture built from builders.py plus what the readers
must say about it. test_edge_cases.py reads each with every engine and holds
the result to tshark 4.0: the same TCP rows (frame numbers included), except
the frames a documented limit leaves out (``unlisted``, named in a warning),
and, where tshark's own arithmetic wraps, the times (``exact_ts`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from .builders import (
    TCP_ACK,
    block,
    custom_block,
    epb,
    ether,
    ext_ah,
    ext_generic,
    idb,
    ipv4,
    ipv6,
    journal_block,
    option,
    pcap,
    shb,
    spb,
    sysdig_event_block,
    tcp,
)

SEGMENT = tcp(flags=TCP_ACK, payload=b"edge")
FRAME = ether(ipv4(SEGMENT))
#: tshark 4.0 works out the nanoseconds of a tick in uint64 (tick % units * 1e9 / units): exact up to this many
#: ticks per second, wrapping above.
TSHARK_EXACT_TICKS_PER_SECOND = (1 << 64) // 10**9
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class EdgeCase:
    name: str
    content: bytes
    #: a substring of one of the warnings (None: no warning at all); damage also stops tshark, which pyshark words
    warning: str | None = None
    #: frames tshark lists as TCP that the readers leave out by a documented rule (and say so in ``warning``)
    unlisted: tuple[int, ...] = ()
    #: our ts_ns per row where tshark's own time is wrong (it wraps); None: tshark's times are exact, compare them
    exact_ts: tuple[int, ...] | None = None
    #: the pyshark engine cannot read this file (pyshark's parser fails on what tshark prints): its one-line warning
    pyshark_cannot: bool = False

    @property
    def suffix(self) -> str:
        return ".pcapng" if self.content[:4] == b"\x0a\x0d\x0d\x0a" else ".pcap"


def _ng(*blocks: bytes, order: str = "<") -> bytes:
    return shb(order) + idb(1, order=order) + b"".join(blocks)


def _resolution_case(tsresol: int) -> EdgeCase:
    """Ticks near the ends of uint64 at an if_tsresol: never an OverflowError; the times exact (floor)."""
    ticks_per_second = (2 if tsresol & 0x80 else 10) ** (tsresol & 0x7F)  # the pcapng draft's if_tsresol
    ticks = (5, 1_700_000_000_123_456_789, (1 << 64) - 1)
    exact = tuple(ns if (ns := t * 10**9 // ticks_per_second) <= INT64_MAX else None for t in ticks)
    content = shb() + idb(1, tsresol=tsresol) + b"".join(epb(0, t, FRAME) for t in ticks)
    if any(ns is None for ns in exact):  # 2^64 - 1 ticks of a coarse resolution: past 2262
        unlisted = tuple(i + 1 for i, ns in enumerate(exact) if ns is None)
        return EdgeCase(f"tsresol-{tsresol:#x}", content, "int64 nanoseconds cannot hold", unlisted)
    tshark_exact = ticks_per_second <= TSHARK_EXACT_TICKS_PER_SECOND
    return EdgeCase(f"tsresol-{tsresol:#x}", content, exact_ts=None if tshark_exact else exact)


def second_section_other_order() -> bytes:
    """Two sections, little- then big-endian (the window-edge test slides it across many window sizes)."""
    little = shb("<") + idb(order="<") + b"".join(epb(0, i, FRAME, order="<") for i in range(20))
    big = shb(">") + idb(order=">") + b"".join(epb(0, i, FRAME, order=">") for i in range(20))
    return little + big


_NINE_EXTENSIONS = [(0, ext_generic(0))] + [(60, ext_generic(0))] * 8
_EIGHT_WITH_AH = [(51, ext_ah())] + [(60, ext_generic(0))] * 7
_HUGE_OFFSET_S = 9_300_000_000  # if_tsoffset past what int64 ns holds (about 9.22e9 s)

CASES: list[EdgeCase] = [
    EdgeCase("custom-blocks-are-frames",
             _ng(epb(0, 1, FRAME), custom_block(copy=True), epb(0, 2, FRAME), custom_block(copy=False), epb(0, 3, FRAME))),
    EdgeCase("journal-export-block-is-a-frame", _ng(epb(0, 1, FRAME), journal_block(), epb(0, 2, FRAME))),
    EdgeCase("sysdig-event-blocks-are-frames",
             _ng(epb(0, 1, FRAME), sysdig_event_block(1), epb(0, 2, FRAME), sysdig_event_block(2), epb(0, 3, FRAME)),
             pyshark_cannot=True),
    EdgeCase("other-blocks-are-no-frames",
             _ng(epb(0, 1, FRAME), block(5, bytes(12)), block(0x0A, b"TLSK" + bytes(4)), block(0x208, bytes(24)),
                 block(0x1234, b"abcd"), epb(0, 2, FRAME))),
    EdgeCase("custom-block-too-short", _ng(epb(0, 1, FRAME), block(0xBAD, b""), epb(0, 2, FRAME)),
             warning="custom block too short"),
    EdgeCase("journal-entry-too-short", _ng(epb(0, 1, FRAME), journal_block(b"MESSAGE=x\n" + bytes(14)), epb(0, 2, FRAME)),
             warning="systemd journal export block too short"),
    *(_resolution_case(r) for r in (9, 12, 19, 20, 29, 40, 127, 0x80 | 10, 0x80 | 34, 0x80 | 35, 0x80 | 64, 0x80 | 127)),
    EdgeCase("tsoffset-past-int64",
             shb() + idb(1) + idb(1, tsoffset=_HUGE_OFFSET_S) + idb(1, tsoffset=-_HUGE_OFFSET_S)
             + b"".join(epb(i % 3, 10**6 * i, FRAME) for i in range(9)),
             warning="6 records have a timestamp that int64 nanoseconds cannot hold", unlisted=(2, 3, 5, 6, 8, 9)),
    EdgeCase("tsoffset-just-inside-int64", shb() + idb(1, tsoffset=9_200_000_000) + epb(0, 10**6, FRAME) + epb(0, 2 * 10**6, FRAME)),
    EdgeCase("ticks-past-int64", _ng(epb(0, 10**6, FRAME), epb(0, 1 << 63, FRAME), epb(0, 3 * 10**6, FRAME)),
             warning="(before 1677 or after 2262; first: frame 2)", unlisted=(2,)),
    EdgeCase("simple-packet-blocks", _ng(spb(FRAME), epb(0, 5, FRAME), spb(FRAME))),
    EdgeCase("packet-comments", _ng(epb(0, 1, FRAME, options=option(1, b"a comment")), epb(0, 2, FRAME))),
    EdgeCase("vlan-stacks", pcap([
        (1, 0, ether(ipv4(SEGMENT), vlans=(1, 2, 3, 4, 5))),
        (2, 0, ether(ipv4(SEGMENT), vlans=(1, 2, 3, 4))),
        (3, 0, ether(ipv4(SEGMENT), vlans=(10, 20), tpids=(0x88A8, 0x88A8))),
        (4, 0, ether(ipv4(SEGMENT), vlans=(1, 2, 3), tpids=(0x88A8, 0x88A8, 0x88A8))),
        (5, 0, ether(ipv4(SEGMENT), vlans=(1, 2, 3, 4, 5), tpids=(0x88A8,) * 5)),
        (6, 0, ether(ipv4(SEGMENT), vlans=(7, 8, 9, 10), tpids=(0x9100, 0x88A8, 0x8100, 0x88A8))),
    ]), warning="2 records have more than 4 stacked VLAN tags", unlisted=(1, 5)),
    EdgeCase("ipv6-extension-chains", pcap([
        (1, 0, ether(ipv6(SEGMENT, ext=_NINE_EXTENSIONS), 0x86DD)),
        (2, 0, ether(ipv6(SEGMENT, ext=_EIGHT_WITH_AH), 0x86DD)),
        (3, 0, ether(ipv6(SEGMENT, ext=[(0, ext_generic(0)), (51, ext_ah(2))]), 0x86DD)),
    ]), warning="1 IPv6 packets have more than 8 extension headers", unlisted=(1,)),
    EdgeCase("tcp-header-lengths", pcap([
        (1, 0, ether(ipv4(SEGMENT[:12] + bytes([3 << 4]) + SEGMENT[13:]))),  # 12 bytes: below the fixed header
        (2, 0, ether(ipv4(SEGMENT[:12] + bytes([15 << 4]) + SEGMENT[13:]))),  # 60 bytes: past the 24-byte payload
        (3, 0, FRAME),
    ]), warning="2 TCP segments have a header length below 20 bytes or past the IP payload", unlisted=(1, 2)),
    EdgeCase("second-section-in-the-other-byte-order", second_section_other_order()),
]
