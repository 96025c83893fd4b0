"""scapy engine: scapy's pcap/pcapng readers for the records, scapy's layers for the headers.

Slow (a Python object per header) but independent of the fast engine's
numpy code: the tests check that both give the same table. The readers are
scapy's, with the bounds checks of `damage.py` added (scapy alone would
allocate whatever a record header claims, silently drop damaged tails, and
turn an error inside a block into the end of the file). Timestamps are
worked out in Python integers (formats.TsResolution.ticks_to_ns_int, the
fast engine's reference).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.ipsec import AH
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.utils import RawPcapNgReader, RawPcapReader

from . import damage
from .addresses import format_ipv4, format_ipv6
from .columns import packet_frame
from .decode import BEYOND_LIMITS, limit_warnings
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
from .linktypes import (
    AF_IPV4,
    AF_IPV6,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    LINKTYPES,
    MAX_VLAN_DEPTH,
    VLAN_ETHERTYPES,
    L3Selector,
    linktype_name,
)
from .table import PACKET_COLUMNS, ReadReport

Progress = Callable[[int, int], None]
# (data, linktype, ts_ns, iface, wirelen)
Record = tuple[bytes, int, int, int, int]
IPV6_EXT_GENERIC = (0, 43, 60)  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
IPV6_EXT_FRAGMENT = 44
IPV6_EXT_AH = 51
MAX_IPV6_EXT = 8
#: What _records yields instead of a record for a frame that gives no row (read() counts each).
NO_PACKET = "a pcapng block tshark numbers as a frame, with no packet in it"
BAD_TIMESTAMP = "a timestamp int64 nanoseconds cannot hold"


class _Stop(Exception):
    """Damage found: stop reading; the message goes to the report."""


class _CheckedPcapReader(RawPcapReader):
    bad_ts_frames: list[int]

    def __init__(self, filename, fdesc=None, magic=None):
        self.bad_ts_frames = []
        super().__init__(filename, fdesc, magic)

    def _read_packet(self, size=MAX_CAPLEN):
        start = self.f.tell()
        hdr = self.f.read(16)
        if not hdr:
            raise EOFError
        if len(hdr) < 16:
            raise _Stop(damage.record_cut_short(start, len(hdr), 16))
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
        start = self.f.tell()
        head = self.f.read(4)
        if not head:
            raise EOFError
        if len(head) < 4:
            raise _Stop(damage.bad_block(start, "block header cut short"))
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
            raise _Stop(damage.bad_block(start, "packet block too short"))
        fmt = "IIIII" if btype == PCAPNG_EPB else "HHIIII"
        fields = struct.unpack(self.endian + fmt, body[: struct.calcsize(self.endian + fmt)])
        intid, caplen = fields[0], fields[-2]
        if caplen > MAX_CAPLEN:
            raise _Stop(damage.record_too_big(start, caplen))
        if 20 + caplen > len(body):
            raise _Stop(damage.bad_block(start, f"captured length {caplen} runs past its block"))
        if intid >= len(self.interfaces):
            raise _Stop(damage.bad_block(start, f"unknown interface id {intid}"))
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
        if len(body) < 4 or not self.interfaces:
            raise _Stop(damage.bad_block(start, "simple packet block too short or before any interface"))
        (wirelen,) = struct.unpack(self.endian + "I", body[:4])
        linktype, snaplen = self.interfaces[0][0], self.interfaces[0][1]
        caplen = min(wirelen, len(body) - 4, snaplen or MAX_CAPLEN, MAX_CAPLEN)
        return body[4 : 4 + caplen], linktype, 0, 0, wirelen


def _records(path: Path, progress: Progress | None, report: ReadReport, bad_fractions: list[int]) -> Iterator[Record | str]:
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


def _link(data: bytes, linktype: int) -> tuple[int, int, list[int]] | str | None:
    """(IP version, offset of the IP header, VLAN ids); None if not IP; "vlan_depth" past MAX_VLAN_DEPTH tags."""
    spec = LINKTYPES[linktype]
    vlans: list[int] = []
    if len(data) < spec.header_len:
        return None
    if spec.selector is L3Selector.ETHERTYPE:
        header = {1: Ether, 113: CookedLinux, 276: CookedLinuxV2}[linktype](data[: spec.header_len])
        ethertype = getattr(header, "type" if linktype == 1 else "proto", None)  # None: 802.3 length field
        offset = spec.header_len
        while ethertype in VLAN_ETHERTYPES and len(vlans) < MAX_VLAN_DEPTH and offset + 4 <= len(data):
            tag = Dot1Q(data[offset : offset + 4])
            vlans.append(tag.vlan)
            ethertype = tag.type
            offset += 4
        if ethertype in VLAN_ETHERTYPES and len(vlans) == MAX_VLAN_DEPTH:
            return "vlan_depth"
        version = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}.get(ethertype)
        return (version, offset, vlans) if version else None
    if spec.selector in (L3Selector.AF_HOST, L3Selector.AF_BIG):
        family = struct.unpack("<I" if spec.selector is L3Selector.AF_HOST else ">I", data[:4])[0]
        if family & 0xFFFF0000:
            family = struct.unpack("<I", struct.pack(">I", family))[0]
        version = 4 if family in AF_IPV4 or family == ETHERTYPE_IPV4 else 6 if family in AF_IPV6 or family == ETHERTYPE_IPV6 else None
        return (version, 4, vlans) if version else None
    if not data:
        return None
    nibble = data[0] >> 4
    wanted = {L3Selector.IPV4_ONLY: (4,), L3Selector.IPV6_ONLY: (6,), L3Selector.IP_VERSION: (4, 6)}[spec.selector]
    return (nibble, 0, vlans) if nibble in wanted else None


def _network(data: bytes, version: int, offset: int, wirelen: int):
    """(src, dst, offset of the TCP header, IP payload bytes on the wire); None if not TCP; "ipv6_extensions"
    past MAX_IPV6_EXT extension headers."""
    wire_after = max(wirelen, len(data)) - offset
    if version == 4:
        if len(data) < offset + 20:
            return None
        ip = IP(data[offset : offset + 20])
        ihl = ip.ihl * 4
        if ip.version != 4 or ihl < 20 or len(data) < offset + ihl:
            return None
        total = wire_after if ip.len == 0 else min(ip.len, wire_after)  # 0: TSO, as Wireshark
        if total < ihl or ip.proto != 6 or ip.frag != 0 or ip.flags.MF:
            return None
        src, dst = format_ipv4(data[offset + 12 : offset + 16]), format_ipv4(data[offset + 16 : offset + 20])
        return src, dst, offset + ihl, total - ihl
    if len(data) < offset + 40:
        return None
    ip6 = IPv6(data[offset : offset + 40])
    if ip6.version != 6:
        return None
    payload = wire_after - 40 if ip6.plen == 0 else min(ip6.plen, wire_after - 40)
    src, dst = format_ipv6(data[offset + 8 : offset + 24]), format_ipv6(data[offset + 24 : offset + 40])
    nh, pos = ip6.nh, offset + 40
    for walked in range(MAX_IPV6_EXT + 1):
        if walked == MAX_IPV6_EXT and nh in (*IPV6_EXT_GENERIC, IPV6_EXT_AH, IPV6_EXT_FRAGMENT):
            return "ipv6_extensions"
        if nh in IPV6_EXT_GENERIC or nh == IPV6_EXT_AH:
            if len(data) < pos + 2:
                return None
            ext = AH(data[pos : pos + 2] + b"\0" * 10) if nh == IPV6_EXT_AH else None
            ext_len = (ext.payloadlen + 2) * 4 if ext is not None else (data[pos + 1] + 1) * 8
            nh = ext.nh if ext is not None else data[pos]
        elif nh == IPV6_EXT_FRAGMENT:
            if len(data) < pos + 8:
                return None
            frag = IPv6ExtHdrFragment(data[pos : pos + 8])
            if frag.offset != 0 or frag.m:
                return None
            ext_len, nh = 8, frag.nh
        else:
            break
        pos += ext_len
        payload -= ext_len
    if nh != 6 or payload < 0:
        return None
    return src, dst, pos, payload


def read(path: str | Path, progress: Progress | None = None) -> tuple[pd.DataFrame, ReadReport]:
    path = Path(path)
    report = ReadReport()
    rows: list[tuple] = []
    unlisted: dict[str, int] = {}  # why records gave no row: "header cut", BEYOND_LIMITS kinds, BAD_TIMESTAMP
    first_bad_timestamp = 0
    bad_fractions: list[int] = []
    for frame, record in enumerate(_records(path, progress, report, bad_fractions), start=1):
        report.records = frame
        if record is BAD_TIMESTAMP:
            first_bad_timestamp = first_bad_timestamp or frame
            unlisted[BAD_TIMESTAMP] = unlisted.get(BAD_TIMESTAMP, 0) + 1
            continue
        if record is not NO_PACKET and record[1] not in LINKTYPES:
            name = linktype_name(record[1])
            report.skipped_linktypes[name] = report.skipped_linktypes.get(name, 0) + 1
            continue
        row = _row(frame, record) if record is not NO_PACKET else None
        if isinstance(row, tuple):
            rows.append(row)
            continue
        report.non_tcp += 1
        if row is not None:
            unlisted[row] = unlisted.get(row, 0) + 1
    if unlisted.get(_HEADER_CUT):
        report.warnings.append(damage.header_cut(unlisted[_HEADER_CUT]))
    report.warnings.extend(limit_warnings({kind: unlisted.get(kind, 0) for kind in BEYOND_LIMITS}))
    if bad_fractions:
        report.warnings.append(damage.bad_timestamps(len(bad_fractions), bad_fractions[0]))
    if unlisted.get(BAD_TIMESTAMP):
        report.warnings.append(damage.unrepresentable_timestamps(unlisted[BAD_TIMESTAMP], first_bad_timestamp))
    report.tcp_packets = len(rows)
    damage.finish(path, report)
    columns = dict(zip(PACKET_COLUMNS, zip(*rows))) if rows else {name: [] for name in PACKET_COLUMNS}
    return packet_frame(columns), report


_HEADER_CUT = "header cut"


def _row(frame: int, record: Record) -> tuple | str | None:
    """The packet table row of one record; else why not: _HEADER_CUT or a BEYOND_LIMITS kind (None: not TCP)."""
    data, linktype, ts_ns, iface, wirelen = record
    link = _link(data, linktype)
    net = _network(data, link[0], link[1], wirelen) if isinstance(link, tuple) else link
    if not isinstance(net, tuple):
        return net
    src, dst, tcp_at, ip_payload = net
    if len(data) < tcp_at + 20:
        return _HEADER_CUT
    tcp = TCP(data[tcp_at : tcp_at + 20])
    header = tcp.dataofs * 4
    if header < 20 or header > ip_payload:
        return "tcp_header_length"
    seg_len = ip_payload - header
    return (
        frame, ts_ns, iface, ";".join(map(str, link[2])), link[0], src, dst, tcp.sport, tcp.dport,
        int(tcp.flags) | (tcp.reserved << 9), tcp.seq, tcp.ack, seg_len, tcp.window,
        len(data) < tcp_at + header + seg_len,
    )
