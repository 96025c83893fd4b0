"""Competitor: scapy's RawPcapReader for the records, struct for the headers (the fast scapy way).

    python bench/read_scapy_raw.py FILE

Extracts the fields the tshark leg prints (frame number, TCP flags, raw seq/ack,
TCP payload length, addresses as text, ports) for every TCP packet, folds them
into a checksum instead of keeping them (bounded memory, like tshark writing to
/dev/null), and prints one JSON line: records, tcp_packets, checksum.
"""

from __future__ import annotations

import json
import socket
import struct
import sys

from scapy.utils import RawPcapReader

from link_layers import ip_offset

IPPROTO_TCP = 6
IPV4 = struct.Struct("!BxH2xH1xB2x4s4s")  # ver/ihl, total length, flags/frag, protocol, src, dst
IPV6 = struct.Struct("!4xHB1x16s16s")  # payload length, next header, src, dst
TCP = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags


def main(path: str) -> dict:
    records = tcp_packets = checksum = 0
    with RawPcapReader(path) as reader:
        for frame_number, (frame, _meta) in enumerate(reader, start=1):
            records = frame_number
            at = ip_offset(reader.linktype, frame)
            if at is None:
                continue
            version = frame[at] >> 4
            if version == 4 and len(frame) >= at + 20:
                ver_ihl, total, frag, proto, src, dst = IPV4.unpack_from(frame, at)
                if proto != IPPROTO_TCP or frag & 0x1FFF:
                    continue
                ip_header = (ver_ihl & 0x0F) * 4
                ip_payload = total - ip_header
                family = socket.AF_INET
            elif version == 6 and len(frame) >= at + 40:
                payload, proto, src, dst = IPV6.unpack_from(frame, at)
                if proto != IPPROTO_TCP:
                    continue
                ip_header, ip_payload, family = 40, payload, socket.AF_INET6
            else:
                continue
            tcp_at = at + ip_header
            if len(frame) < tcp_at + 14:
                continue
            sport, dport, seq, ack, offset, flags = TCP.unpack_from(frame, tcp_at)
            flags |= (offset & 0x0F) << 8  # NS and the reserved bits: 12 bits, as tshark tcp.flags
            tcp_len = ip_payload - (offset >> 4) * 4
            fields = (frame_number, flags, seq, ack, tcp_len, socket.inet_ntop(family, src),
                      socket.inet_ntop(family, dst), sport, dport)  # fmt: skip
            checksum = (checksum + fields[0] + fields[1] + fields[2] + fields[3] + fields[4]
                        + len(fields[5]) + len(fields[6]) + fields[7] + fields[8]) & 0xFFFFFFFFFFFFFFFF  # fmt: skip
            tcp_packets += 1
    return {"records": records, "tcp_packets": tcp_packets, "checksum": checksum}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
