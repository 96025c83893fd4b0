"""Link types we decode, as data: LINKTYPE number -> how to find the IP header.

References: https://www.tcpdump.org/linktypes.html and Wireshark's
packet-null.c, packet-sll.c. Each entry says where the network-layer
protocol is named and where the network-layer header starts; the engines
share this table so that "supported" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class L3Selector(Enum):
    """How a link header names what follows it."""

    ETHERTYPE = "ethertype"  # 16-bit big-endian EtherType at `proto_at` (VLAN tags may follow)
    AF_HOST = "af-host"  # 32-bit BSD address family in the capturing host's byte order
    AF_BIG = "af-big"  # 32-bit BSD address family, network byte order (OpenBSD LOOP)
    IP_VERSION = "ip-version"  # no link header: the IP version nibble decides
    IPV4_ONLY = "ipv4"
    IPV6_ONLY = "ipv6"


@dataclass(frozen=True)
class LinkType:
    name: str
    header_len: int  # bytes before the network-layer header (or the first VLAN tag)
    selector: L3Selector
    proto_at: int = 0  # offset of the EtherType / address family inside the link header


#: The link types we decode. Anything else is named and counted in ReadReport.skipped_linktypes.
LINKTYPES: dict[int, LinkType] = {
    0: LinkType("NULL", 4, L3Selector.AF_HOST),
    1: LinkType("ETHERNET", 14, L3Selector.ETHERTYPE, proto_at=12),
    12: LinkType("RAW", 0, L3Selector.IP_VERSION),  # DLT_RAW on some BSDs
    14: LinkType("RAW", 0, L3Selector.IP_VERSION),  # DLT_RAW on BSD/OS
    101: LinkType("RAW", 0, L3Selector.IP_VERSION),
    108: LinkType("LOOP", 4, L3Selector.AF_BIG),
    113: LinkType("LINUX_SLL", 16, L3Selector.ETHERTYPE, proto_at=14),
    228: LinkType("IPV4", 0, L3Selector.IPV4_ONLY),
    229: LinkType("IPV6", 0, L3Selector.IPV6_ONLY),
    276: LinkType("LINUX_SLL2", 20, L3Selector.ETHERTYPE, proto_at=0),
}

#: Names of common link types we do not decode, for the skipped-records report.
OTHER_LINKTYPE_NAMES: dict[int, str] = {
    6: "IEEE802_5",
    9: "PPP",
    10: "FDDI",
    50: "PPP_HDLC",
    51: "PPP_ETHER",
    104: "C_HDLC",
    105: "IEEE802_11",
    119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP",
    143: "DOCSIS",
    147: "USER0",
    187: "BLUETOOTH_HCI_H4",
    189: "USB_LINUX",
    192: "PPI",
    195: "IEEE802_15_4",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    239: "NFLOG",
    249: "USBPCAP",
    274: "ETHERNET_MPACKET",
}

#: EtherTypes (RFC 7042 / IEEE registry) that matter to us.
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
#: VLAN tags we step through: 802.1Q, 802.1ad (QinQ S-tag), and the pre-standard QinQ 0x9100.
VLAN_ETHERTYPES = (0x8100, 0x88A8, 0x9100)
#: At most this many stacked VLAN tags are walked (deeper stacks are not IP to us).
MAX_VLAN_DEPTH = 4

#: BSD address families in DLT_NULL / DLT_LOOP headers (Wireshark's packet-null.c).
AF_IPV4 = (2,)
AF_IPV6 = (24, 28, 30)  # NetBSD/OpenBSD, FreeBSD, Darwin


def linktype_name(linktype: int) -> str:
    if linktype in LINKTYPES:
        return LINKTYPES[linktype].name
    return OTHER_LINKTYPE_NAMES.get(linktype, f"LINKTYPE_{linktype}")
