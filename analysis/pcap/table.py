"""The packet table: what every capture engine (fast, scapy, pyshark) returns.

One row per TCP segment found in the file (non-TCP records are counted, not
listed). It is a plain pandas DataFrame with these columns (columns.py
builds it); the engines are tested to give identical tables on the same
file. This module needs no pandas, so the fast engine's reading half
(stream.py) can run before pandas is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: column -> (dtype, meaning). Addresses are strings (IPv6 compressed, no brackets).
PACKET_COLUMNS: dict[str, tuple[str, str]] = {
    "frame": ("int64", "1-based record number in the file, counting every record (tshark frame.number)"),
    "ts_ns": ("int64", "capture timestamp, ns since the Unix epoch"),
    "iface": ("int32", "pcapng interface id (0 for pcap)"),
    "vlan": ("string", "VLAN stack, outer first, ';'-joined ('' when untagged), e.g. '10;20'"),
    "ip_version": ("int8", "4 or 6"),
    "src": ("string", "source IP address"),
    "dst": ("string", "destination IP address"),
    "sport": ("int32", "TCP source port"),
    "dport": ("int32", "TCP destination port"),
    "flags": ("int32", "TCP flag bits (FIN=0x01 ... CWR=0x80, NS=0x100)"),
    "seq_raw": ("int64", "sequence number as on the wire"),
    "ack_raw": ("int64", "acknowledgement number as on the wire (0 meaningless without ACK)"),
    "len": ("int64", "TCP payload length from the IP length fields (tshark tcp.len), not from caplen"),
    "win": ("int32", "raw window field (unscaled)"),
    "truncated": ("bool", "the snaplen cut this packet's TCP header or payload"),
}


@dataclass
class ReadReport:
    """What a reader saw besides the TCP rows: counts and warnings, nothing lost silently."""

    records: int = 0  # every frame read, as tshark numbers them (all link types, TCP or not)
    tcp_packets: int = 0
    skipped_linktypes: dict[str, int] = field(default_factory=dict)  # link type name -> records skipped
    non_tcp: int = 0  # records of a supported link type that give no row (pcapng frames without a packet too)
    warnings: list[str] = field(default_factory=list)  # e.g. "file truncated at byte offset 1234: ..."
    bytes_read: int = 0
