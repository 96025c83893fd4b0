"""Link-layer table shared by the struct-based benchmark readers (scapy RawPcapReader + struct).

One row per DLT/LINKTYPE: how many bytes to skip and where the EtherType is.
Keeping it a table keeps every competitor doing the same work as the others:
Ethernet (with 802.1Q/802.1ad tags), Linux SLL and SLL2, raw IP, BSD null/loopback.
"""

from __future__ import annotations

import struct

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
VLAN_ETHERTYPES = (0x8100, 0x88A8, 0x9100)
VLAN_TAG_BYTES = 4

#: linktype -> (header bytes, offset of a 2-byte big-endian EtherType, or None)
LINK_HEADERS: dict[int, tuple[int, int | None]] = {
    1: (14, 12),  # Ethernet
    113: (16, 14),  # Linux cooked SLL
    276: (20, 0),  # Linux cooked SLL2
    101: (0, None),  # raw IP (version from the first nibble)
    12: (0, None),  # raw IP (OpenBSD number)
    14: (0, None),  # raw IP (some BSDs)
    228: (0, None),  # IPv4
    229: (0, None),  # IPv6
    0: (4, None),  # BSD null: 4-byte address family in host order (version from the IP header)
    108: (4, None),  # OpenBSD loopback
}

_U16 = struct.Struct("!H").unpack_from


def ip_offset(linktype: int, frame: bytes) -> int | None:
    """Offset of the IP header in a frame, or None when it carries no IPv4/IPv6."""
    header = LINK_HEADERS.get(linktype)
    if header is None:
        return None
    size, ethertype_at = header
    if ethertype_at is None:
        return size if len(frame) > size else None
    if len(frame) < size:
        return None
    ethertype = _U16(frame, ethertype_at)[0]
    while ethertype in VLAN_ETHERTYPES and linktype == 1 and len(frame) >= size + VLAN_TAG_BYTES:
        ethertype = _U16(frame, size + 2)[0]
        size += VLAN_TAG_BYTES
    return size if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else None
