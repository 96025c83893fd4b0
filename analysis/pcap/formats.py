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
PCAPNG_SYSTEMD_JOURNAL = 9
#: Blocks that hold one captured record each (tshark numbers each as a frame).
PCAPNG_PACKET_BLOCKS = (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB)


@dataclass(frozen=True)
class FrameBlock:
    name: str
    min_total_len: int  # a shorter block is damage: tshark stops there ("too small"), and so do we


#: Blocks that hold a record but no packet. tshark 4.0 numbers each as a frame of its own, so every
#: frame after one counts it; we count them too (as records that are not TCP). Other block types
#: (NRB, ISB, DSB, sysdig metadata, unknown ones) are no frame. Checked against tshark by the tests.
PCAPNG_FRAMES_WITHOUT_PACKET: dict[int, FrameBlock] = {
    0x00000BAD: FrameBlock("custom block", 16),  # CB that may be copied: a PEN, then data
    0x40000BAD: FrameBlock("custom block", 16),  # CB that must not be copied
    PCAPNG_SYSTEMD_JOURNAL: FrameBlock("systemd journal export block", 36),
    0x00000204: FrameBlock("sysdig event block", 36),
    0x00000216: FrameBlock("sysdig event block (v2)", 40),
    0x00000221: FrameBlock("sysdig event block (v2, large)", 40),
}
#: A systemd journal export entry, its trailing NUL padding left out, has at least this many bytes (tshark).
SYSTEMD_JOURNAL_MIN_ENTRY = 23

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


#: The range of ts_ns (int64 ns since the epoch: the years 1677 to 2262). A pcapng timestamp outside it
#: (an if_tsoffset of +-9.2e9 s or more, or ticks that big) is a damaged record: the engines leave it out and
#: count it (damage.unrepresentable_timestamps), and read on.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class TsResolution:
    """A pcapng if_tsresol, as a way to turn ticks into nanoseconds exactly (floor).

    Every one of the 256 option values is valid: 10^-n or 2^-n s per tick
    for n = 0..127. Ticks are uint64, so from 10^-29 s on every timestamp is
    below a nanosecond (ticks / 10^20 < 1). tshark 4.0 computes the
    nanoseconds of ticks finer than about 2^-34 s in wrapping 64-bit
    arithmetic; we compute them exactly.
    """

    base: int  # 10 or 2
    exponent: int

    @classmethod
    def from_option(cls, value: int) -> TsResolution:
        return cls(2 if value & 0x80 else 10, value & 0x7F)

    @property
    def ticks_per_second(self) -> int:
        return self.base**self.exponent

    def ticks_to_ns(self, ticks: np.ndarray, offset_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(ts_ns, fits) for uint64 ticks: floor(ticks * 1e9 / ticks_per_second) + offset_ns, exactly.

        ``fits`` is False where int64 cannot hold the result (ts_ns is 0 there).
        Decimal resolutions (all common ones) are numpy arithmetic; the rest
        (binary resolutions, and ticks whose nanoseconds pass 2^64 before the
        offset is added) go value by value through ticks_to_ns_int.
        """
        ticks = np.asarray(ticks).astype(np.uint64, copy=False)
        if self.base == 10 and self.exponent <= 9:
            per_tick = 10 ** (9 - self.exponent)
            in_uint64 = ticks <= np.uint64(_UINT64_MAX // per_tick)
            with np.errstate(over="ignore"):
                ns = ticks * np.uint64(per_tick)  # wraps where not in_uint64: those are redone below
        elif self.base == 10:
            divisor = 10 ** (self.exponent - 9)
            ns = ticks // np.uint64(divisor) if divisor <= _UINT64_MAX else np.zeros_like(ticks)
            in_uint64 = np.ones(len(ticks), dtype=bool)
        else:
            ns, in_uint64 = np.zeros_like(ticks), np.zeros(len(ticks), dtype=bool)
        ts_ns, fits = _plus_offset(ns, in_uint64, offset_ns)
        for i in np.flatnonzero(~in_uint64).tolist():
            value = self.ticks_to_ns_int(int(ticks[i]), offset_ns)
            ts_ns[i], fits[i] = (value, True) if value is not None else (0, False)
        return ts_ns, fits

    def ticks_to_ns_int(self, ticks: int, offset_ns: int = 0) -> int | None:
        """The same for one value in Python integers (the reference; engines that work packet by packet).

        None where int64 cannot hold the result."""
        ns = ticks * 10**9 // self.ticks_per_second + offset_ns
        return ns if INT64_MIN <= ns <= INT64_MAX else None


def _plus_offset(ns: np.ndarray, fits: np.ndarray, offset_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(ns + offset_ns as int64, fits) for uint64 ns: only results int64 holds fit; the rest become 0.

    The bounds are Python integers, so offsets of any size compare exactly.
    Where the result fits, int64 addition that wraps (two's complement) gives
    it exactly, even when ns alone or the offset alone does not fit.
    """
    low, high = INT64_MIN - offset_ns, INT64_MAX - offset_ns  # ns must lie in [low, high]
    if high < 0 or low > _UINT64_MAX:
        fits = np.zeros(len(ns), dtype=bool)
    else:
        if high < _UINT64_MAX:
            fits = fits & (ns <= np.uint64(high))
        if low > 0:
            fits = fits & (ns >= np.uint64(low))
    wrapped_offset = np.int64((offset_ns + (1 << 63)) % (1 << 64) - (1 << 63))
    with np.errstate(over="ignore"):
        ts_ns = ns.view(np.int64) + wrapped_offset
    return np.where(fits, ts_ns, 0), fits


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
