"""scapy engine: scapy's pcap/pcapng readers for the records (scapy_readers.py), scapy's layers for the headers.

Slow (a Python object per header) but independent of the fast engine's
numpy code: the tests check that both give the same table. decode.py's
rules are applied here with scapy's layer classes; the limits (and their
warnings) are decode.py's.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.ipsec import AH
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1Q, Ether

from . import damage
from .addresses import format_ipv4, format_ipv6
from .columns import packet_frame
from .decode import BEYOND_LIMITS, IPV6_EXT_AH, IPV6_EXT_FRAGMENT, IPV6_EXT_GENERIC, MAX_IPV6_EXT, limit_warnings
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
from .scapy_readers import BAD_TIMESTAMP, NO_PACKET, Progress, Record, records
from .table import PACKET_COLUMNS, ReadReport


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
    for frame, record in enumerate(records(path, progress, report, bad_fractions), start=1):
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
