"""Competitor: dpkt, the usual way (dpkt.pcap.Reader + dpkt.ethernet/sll/sll2/loopback objects).

    python bench/read_dpkt.py FILE

Extracts the same fields as the tshark leg for every TCP packet, folds them into
a checksum (bounded memory) and prints one JSON line: records, tcp_packets, checksum.
"""

from __future__ import annotations

import json
import socket
import sys

import dpkt

#: linktype -> how dpkt decodes the frame into an object whose .data is the IP packet
DECODERS = {
    dpkt.pcap.DLT_EN10MB: dpkt.ethernet.Ethernet,
    dpkt.pcap.DLT_LINUX_SLL: dpkt.sll.SLL,
    276: dpkt.sll2.SLL2,  # DLT_LINUX_SLL2
    dpkt.pcap.DLT_NULL: dpkt.loopback.Loopback,
    dpkt.pcap.DLT_LOOP: dpkt.loopback.Loopback,
}
RAW_IP_LINKTYPES = {101, 12, 14, 228, 229}


def raw_ip(frame: bytes):
    return dpkt.ip6.IP6(frame) if frame and frame[0] >> 4 == 6 else dpkt.ip.IP(frame)


def open_reader(f):
    magic = f.read(4)
    f.seek(0)
    return dpkt.pcapng.Reader(f) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(f)


def main(path: str) -> dict:
    records = tcp_packets = checksum = 0
    with open(path, "rb") as f:
        reader = open_reader(f)
        linktype = reader.datalink()
        if linktype in RAW_IP_LINKTYPES:
            decode = raw_ip
        else:
            decoder = DECODERS[linktype]

            def decode(frame):
                return decoder(frame).data

        for frame_number, (_ts, frame) in enumerate(reader, start=1):
            records = frame_number
            try:
                ip = decode(frame)
            except (dpkt.UnpackError, IndexError):
                continue
            if isinstance(ip, dpkt.ip.IP):
                family, ip_payload = socket.AF_INET, ip.len - ip.hl * 4
            elif isinstance(ip, dpkt.ip6.IP6):
                family, ip_payload = socket.AF_INET6, ip.plen
            else:
                continue
            tcp = ip.data
            if not isinstance(tcp, dpkt.tcp.TCP):
                continue
            flags = tcp.flags  # 12 bits in dpkt 1.9: NS and the reserved bits included, as tshark
            fields = (frame_number, flags, tcp.seq, tcp.ack, ip_payload - tcp.off * 4, socket.inet_ntop(family, ip.src),
                      socket.inet_ntop(family, ip.dst), tcp.sport, tcp.dport)  # fmt: skip
            checksum = (checksum + fields[0] + fields[1] + fields[2] + fields[3] + fields[4]
                        + len(fields[5]) + len(fields[6]) + fields[7] + fields[8]) & 0xFFFFFFFFFFFFFFFF  # fmt: skip
            tcp_packets += 1
    return {"records": records, "tcp_packets": tcp_packets, "checksum": checksum}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
