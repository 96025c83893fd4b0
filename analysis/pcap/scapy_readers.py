"""The scapy engine's readers: scapy's pcap and pcapng readers with the bounds checks of damage.py.

scapy alone would allocate whatever a record header claims, silently drop
damaged tails, and turn an error inside a block into the end of the file.
Here damage stops the read with damage.py's words (the fast engine's), a
pcapng block that tshark numbers as a frame without a packet in it yields
NO_PACKET, and a record whose timestamp int64 ns cannot hold yields
BAD_TIMESTAMP: frame numbers stay tshark's. Timestamps are worked out in
Python integers (formats.TsResolution.ticks_to_ns_int, the fast engine's
reference).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from scapy.utils import RawPcapNgReader, RawPcapReader

from . import damage
from .formats import (
    MAX_CAPLEN,
    PCAP_MAGICS,
    PCAPNG_EPB,
    PCAPNG_FRAMES_WITHOUT_PACKET,
    PCAPNG_IDB,
    PCAPNG_OPB,
    PCAPNG_SHB_MAGIC,
    PCAPNG_SPB,
    PCAPNG_SYSTEMD_JOURNAL,
    SYSTEMD_JOURNAL_MIN_ENTRY,
    TsResolution,
    interface_clock,
    parse_options,
)
from .table import ReadReport

Progress = Callable[[int, int], None]
# (data, linktype, ts_ns, iface, wirelen)
Record = tuple[bytes, int, int, int, int]
#: What records() yields instead of a record for a frame that gives no row (the engine counts each).
NO_PACKET = "a pcapng block tshark numbers as a frame, with no packet in it"
BAD_TIMESTAMP = "a timestamp int64 nanoseconds cannot hold"


class _Stop(Exception):
    """Damage found: stop reading; the message goes to the report."""


def _next_head(reader, size: int, cut_short: Callable[[int, int], str]) -> tuple[int, bytes]:
    """(where the next record or block starts, its first ``size`` bytes): EOFError at the end of the file,
    _Stop with cut_short(where, bytes there) when fewer remain. Everything before it was read whole."""
    start = reader.read_to = reader.f.tell()
    head = reader.f.read(size)
    if not head:
        raise EOFError
    if len(head) < size:
        raise _Stop(cut_short(start, len(head)))
    return start, head


class _CheckedPcapReader(RawPcapReader):
    bad_ts_frames: list[int]

    def __init__(self, filename, fdesc=None, magic=None):
        self.bad_ts_frames = []
        super().__init__(filename, fdesc, magic)

    def _read_packet(self, size=MAX_CAPLEN):
        start, hdr = _next_head(self, 16, lambda at, have: damage.record_cut_short(at, have, 16))
        sec, frac, caplen, wirelen = struct.unpack(self.endian + "IIII", hdr)
        if caplen > MAX_CAPLEN:
            raise _Stop(damage.record_too_big(start, caplen))
        data = self.f.read(caplen)
        if len(data) < caplen:
            raise _Stop(damage.record_cut_short(start, 16 + len(data), 16 + caplen))
        return data, self.PacketMetadata(sec=sec, usec=frac, wirelen=wirelen, caplen=caplen)


class _CheckedPcapNgReader(RawPcapNgReader):
    """scapy's pcapng reader with length checks, sections, if_tsoffset and interface ids."""

    def __init__(self, filename, fdesc=None, magic=None):
        self.clocks: list[tuple[TsResolution, int]] = []
        self.last_iface = 0
        self.file_size = os.fstat(fdesc.fileno()).st_size
        super().__init__(filename, fdesc, magic)

    def _read_block_shb(self):
        # Called with the block type already consumed (4 bytes).
        start = self.f.tell() - 4
        head = self.f.read(8)
        if len(head) < 8:
            raise _Stop(damage.bad_block(start, "section header cut short"))
        if head[4:8] == b"\x1a\x2b\x3c\x4d":
            order = ">"
        elif head[4:8] == b"\x4d\x3c\x2b\x1a":
            order = "<"
        else:
            raise _Stop(damage.bad_block(start, "bad byte-order magic in section header"))
        (blocklen,) = struct.unpack(order + "I", head[:4])
        if blocklen < 28 or blocklen % 4 or start + blocklen > self.file_size:
            raise _Stop(damage.bad_block(start, f"section header length {blocklen}"))
        body = head[4:8] + self.f.read(blocklen - 16)
        trailer = self.f.read(4)
        if len(trailer) < 4 or struct.unpack(order + "I", trailer)[0] != blocklen:
            raise _Stop(damage.bad_block(start, "section header trailer length mismatch"))
        if parse_options(body, 16, order) is None:
            raise _Stop(damage.bad_block(start, "section header option runs past its block"))
        self.endian = order
        self.interfaces = []
        self.clocks = []

    def _read_packet(self, size=MAX_CAPLEN):
        """scapy's loop over blocks, without its turning OSError and OverflowError into the end of the file."""
        while True:
            record = self._read_block(size)
            if record is not None:
                return record

    def _read_block(self, size=MAX_CAPLEN):
        start, head = _next_head(self, 4, lambda at, have: damage.bad_block(at, "block header cut short"))
        if head == PCAPNG_SHB_MAGIC:
            self._read_block_shb()
            return None
        rest = self.f.read(4)
        if len(rest) < 4:
            raise _Stop(damage.bad_block(start, "block header cut short"))
        btype, blocklen = struct.unpack(self.endian + "II", head + rest)
        if blocklen < 12 or blocklen % 4:
            raise _Stop(damage.bad_block(start, f"block length {blocklen}"))
        if start + blocklen > self.file_size:
            raise _Stop(damage.record_cut_short(start, self.file_size - start, blocklen))
        body = self.f.read(blocklen - 12)
        trailer = self.f.read(4)
        if struct.unpack(self.endian + "I", trailer)[0] != blocklen:
            raise _Stop(damage.bad_block(start, "trailer length mismatch"))
        if btype == PCAPNG_IDB:
            return self._idb(start, body)
        if btype in (PCAPNG_EPB, PCAPNG_OPB):
            return self._packet(start, btype, body)
        if btype == PCAPNG_SPB:
            return self._simple_packet(start, body)
        if btype in PCAPNG_FRAMES_WITHOUT_PACKET:
            return self._frame_without_packet(start, btype, blocklen, body)
        return None

    @staticmethod
    def _frame_without_packet(start, btype, blocklen, body):
        spec = PCAPNG_FRAMES_WITHOUT_PACKET[btype]
        if blocklen < spec.min_total_len or (btype == PCAPNG_SYSTEMD_JOURNAL and
                                             len(body.rstrip(b"\0")) < SYSTEMD_JOURNAL_MIN_ENTRY):
            raise _Stop(damage.bad_block(start, f"{spec.name} too short ({blocklen} bytes)"))
        return NO_PACKET

    def _idb(self, start, body):
        options = parse_options(body, 8, self.endian) if len(body) >= 8 else None
        if options is None:
            raise _Stop(damage.bad_block(start, "interface description too short or option past its block"))
        self._read_block_idb(body, MAX_CAPLEN)
        self.clocks.append(interface_clock(options, self.endian))

    def _packet(self, start, btype, body):
        if len(body) < 20:
            raise _Stop(damage.packet_block_too_short(start))
        fmt = "IIIII" if btype == PCAPNG_EPB else "HHIIII"
        fields = struct.unpack(self.endian + fmt, body[: struct.calcsize(self.endian + fmt)])
        intid, caplen = fields[0], fields[-2]
        if caplen > MAX_CAPLEN:
            raise _Stop(damage.record_too_big(start, caplen))
        if 20 + caplen > len(body):
            raise _Stop(damage.captured_length_past_block(start, caplen))
        if intid >= len(self.interfaces):
            raise _Stop(damage.unknown_interface(start, intid, len(self.interfaces)))
        reader = self._read_block_epb if btype == PCAPNG_EPB else self._read_block_pkt
        try:
            data, meta = reader(body, MAX_CAPLEN)
        except EOFError:
            raise _Stop(damage.bad_block(start, "bad packet block options")) from None
        resol, offset_ns = self.clocks[intid]
        ts_ns = resol.ticks_to_ns_int((meta.tshigh << 32) | meta.tslow, offset_ns)
        if ts_ns is None:
            return BAD_TIMESTAMP
        return data, meta.linktype, ts_ns, intid, meta.wirelen  # id inside its section, as tshark prints it

    def _simple_packet(self, start, body):
        if len(body) < 4:
            raise _Stop(damage.packet_block_too_short(start))
        if not self.interfaces:
            raise _Stop(damage.unknown_interface(start, 0, 0))
        (wirelen,) = struct.unpack(self.endian + "I", body[:4])
        linktype, snaplen = self.interfaces[0][0], self.interfaces[0][1]
        caplen = min(wirelen, len(body) - 4, snaplen or MAX_CAPLEN, MAX_CAPLEN)
        return body[4 : 4 + caplen], linktype, 0, 0, wirelen


def records(path: Path, progress: Progress | None, report: ReadReport, bad_fractions: list[int]) -> Iterator[Record | str]:
    """The file's records (or NO_PACKET, BAD_TIMESTAMP for frames that give none); stops at damage with a warning.

    ``bad_fractions`` gets the frames of pcap records whose sub-second field is a second or more."""
    total = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:4] in PCAP_MAGICS:
        if len(head) < 24:
            raise damage.header_cut_short(path, "pcap file header", len(head), 24)
        reader = _CheckedPcapReader(str(path))
        tick = PCAP_MAGICS[head[:4]].ns_per_tick
        linktype = reader.linktype & 0xFFFF
        next_record = lambda: _pcap_record(reader, linktype, tick, report)  # noqa: E731
    elif head[:4] == PCAPNG_SHB_MAGIC:
        try:
            reader = _CheckedPcapNgReader(str(path))
        except _Stop as stop:
            raise damage.CaptureFormatError(f"{path}: not a readable pcapng file: {stop}") from None
        except Exception as exc:  # scapy's own complaint about the first section header
            raise damage.CaptureFormatError(f"{path}: not a readable pcapng file: {exc}") from None
        next_record = reader._read_packet
    else:
        raise damage.not_a_capture(path, head)
    good_pos = reader.f.tell()
    try:
        while True:
            try:
                record = next_record()
            except EOFError:
                good_pos = reader.f.tell()
                return
            except _Stop as stop:
                report.warnings.append(str(stop))
                good_pos = reader.read_to
                return
            good_pos = reader.f.tell()
            yield record
            if progress is not None and report.records % 4096 == 0:
                progress(reader.f.tell(), total)
    finally:
        report.bytes_read = good_pos
        bad_fractions.extend(getattr(reader, "bad_ts_frames", ()))
        reader.close()


def _pcap_record(reader: _CheckedPcapReader, linktype: int, tick: int, report: ReadReport) -> Record:
    data, meta = reader._read_packet()
    if meta.usec * tick >= 10**9:
        reader.bad_ts_frames.append(report.records + 1)
    return data, linktype, meta.sec * 10**9 + meta.usec * tick, 0, meta.wirelen
