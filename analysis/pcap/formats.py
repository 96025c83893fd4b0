"""Capture file layouts as data: pcap and pcapng headers as numpy dtypes.

References: draft-ietf-opsawg-pcap (pcap) and draft-ietf-opsawg-pcapng
(pcapng). Every multi-byte field is in the file's byte order, which the
magic number (pcap) or the byte-order magic of each Section Header Block
(pcapng) tells. `dtype(layout, order)` gives the numpy dtype for one order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Wireshark/libpcap refuse records larger than this (WTAP_MAX_PACKET_SIZE_STANDARD);
#: a record header claiming more is damage, and we never allocate what it claims.
MAX_CAPLEN = 262_144


@dataclass(frozen=True)
class PcapVariant:
    order: str  # '<' or '>'
    ns_per_tick: int  # 1000 for microsecond files, 1 for nanosecond files
    name: str


#: The first 4 bytes of a pcap file, as they appear on disk.
PCAP_MAGICS: dict[bytes, PcapVariant] = {
    b"\xd4\xc3\xb2\xa1": PcapVariant("<", 1000, "pcap (little-endian, microseconds)"),
    b"\xa1\xb2\xc3\xd4": PcapVariant(">", 1000, "pcap (big-endian, microseconds)"),
    b"\x4d\x3c\xb2\xa1": PcapVariant("<", 1, "pcap (little-endian, nanoseconds)"),
    b"\xa1\xb2\x3c\x4d": PcapVariant(">", 1, "pcap (big-endian, nanoseconds)"),
}
#: Magics we recognise but do not read, so the error can name them.
UNSUPPORTED_MAGICS: dict[bytes, str] = {
    b"\x34\xcd\xb2\xa1": "modified (Kuznetzov) pcap",
    b"\xa1\xb2\xcd\x34": "modified (Kuznetzov) pcap",
}

PCAP_FILE_HEADER = [
    ("magic", "u4"),
    ("version_major", "u2"),
    ("version_minor", "u2"),
    ("thiszone", "i4"),
    ("sigfigs", "u4"),
    ("snaplen", "u4"),
    ("linktype", "u4"),  # low 16 bits: LINKTYPE; high bits: FCS info
]
PCAP_RECORD_HEADER = [
    ("ts_sec", "u4"),
    ("ts_frac", "u4"),  # microseconds or nanoseconds, by the magic
    ("caplen", "u4"),
    ("origlen", "u4"),
]

# --- pcapng -----------------------------------------------------------------
PCAPNG_SHB_TYPE = 0x0A0D0D0A  # a palindrome: same bytes in both orders
PCAPNG_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_OPB = 2  # obsolete Packet Block
PCAPNG_SPB = 3
PCAPNG_EPB = 6
#: Blocks that hold one captured record each (tshark numbers each as a frame).
PCAPNG_PACKET_BLOCKS = (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB)

PCAPNG_BLOCK_HEADER = [("type", "u4"), ("total_len", "u4")]
PCAPNG_SHB_BODY = [("byte_order_magic", "u4"), ("version_major", "u2"), ("version_minor", "u2"), ("section_len", "i8")]
PCAPNG_IDB_BODY = [("linktype", "u2"), ("reserved", "u2"), ("snaplen", "u4")]
PCAPNG_EPB_BODY = [("iface", "u4"), ("ts_high", "u4"), ("ts_low", "u4"), ("caplen", "u4"), ("origlen", "u4")]
PCAPNG_OPB_BODY = [("iface", "u2"), ("drops", "u2"), ("ts_high", "u4"), ("ts_low", "u4"), ("caplen", "u4"), ("origlen", "u4")]
PCAPNG_SPB_BODY = [("origlen", "u4")]
PCAPNG_OPTION_HEADER = [("code", "u2"), ("length", "u2")]
OPT_ENDOFOPT = 0
IF_TSRESOL = 9  # 1 byte: bit 7 clear -> 10^-n s, set -> 2^-n s
IF_TSOFFSET = 14  # 8 bytes signed: seconds added to every timestamp
DEFAULT_TSRESOL = 6  # microseconds, when an IDB has no if_tsresol


def dtype(layout: list[tuple[str, str]], order: str) -> np.dtype:
    return np.dtype([(name, order + code) for name, code in layout])


def size(layout: list[tuple[str, str]]) -> int:
    return dtype(layout, "<").itemsize


@dataclass(frozen=True)
class TsResolution:
    """A pcapng if_tsresol, as a way to turn ticks into nanoseconds exactly (floor)."""

    base: int  # 10 or 2
    exponent: int

    @classmethod
    def from_option(cls, value: int) -> TsResolution:
        return cls(2 if value & 0x80 else 10, value & 0x7F)

    def ticks_to_ns(self, ticks: np.ndarray) -> np.ndarray:
        """int64 ns for uint64 ticks: floor(ticks * 1e9 / base**exponent)."""
        ticks = ticks.astype(np.uint64)
        if self.base == 10:
            if self.exponent <= 9:
                return (ticks * np.uint64(10 ** (9 - self.exponent))).astype(np.int64)
            return (ticks // np.uint64(10 ** (self.exponent - 9))).astype(np.int64)
        n = self.exponent
        seconds = ticks >> np.uint64(n) if n < 64 else np.zeros_like(ticks)
        frac = ticks & np.uint64((1 << n) - 1) if n < 64 else ticks
        shift = max(0, n - 34)  # keep frac * 1e9 inside uint64
        frac_ns = ((frac >> np.uint64(shift)) * np.uint64(10**9)) >> np.uint64(n - shift)
        return (seconds * np.uint64(10**9) + frac_ns).astype(np.int64)

    def ticks_to_ns_int(self, ticks: int) -> int:
        """The same conversion for one value (engines that work packet by packet)."""
        return int(self.ticks_to_ns(np.array([ticks], dtype=np.uint64))[0])


def parse_options(body: bytes, offset: int, order: str) -> dict[int, bytes] | None:
    """Options from `offset` to the end of `body`; None if one runs past its block.

    The first occurrence of a code wins. Malformed option lists are damage
    (libpcap and tshark reject them), so the caller treats None as such.
    """
    options: dict[int, bytes] = {}
    end = len(body)
    while offset + 4 <= end:
        code = int.from_bytes(body[offset : offset + 2], "little" if order == "<" else "big")
        length = int.from_bytes(body[offset + 2 : offset + 4], "little" if order == "<" else "big")
        if code == OPT_ENDOFOPT:
            break
        value_end = offset + 4 + length
        if value_end > end:
            return None
        options.setdefault(code, bytes(body[offset + 4 : value_end]))
        offset = value_end + (-length % 4)
    return options


def interface_clock(options: dict[int, bytes], order: str) -> tuple[TsResolution, int]:
    """(resolution, offset in ns) from an IDB's options."""
    resol = TsResolution(10, DEFAULT_TSRESOL)
    raw = options.get(IF_TSRESOL)
    if raw is not None and len(raw) >= 1:
        resol = TsResolution.from_option(raw[0])
    offset_ns = 0
    raw = options.get(IF_TSOFFSET)
    if raw is not None and len(raw) >= 8:
        offset_ns = int.from_bytes(raw[:8], "little" if order == "<" else "big", signed=True) * 10**9
    return resol, offset_ns
