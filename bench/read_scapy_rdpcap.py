"""Competitor: scapy's rdpcap + layer objects (what most scapy scripts do).

    python bench/read_scapy_rdpcap.py FILE

rdpcap loads and dissects every packet into a PacketList in memory; it takes
about 600 s on the 1M-packet file, so run_bench.py runs this on a 1 % slice and
extrapolates (labelled as such). Same fields, checksum and JSON line as the others.
"""

from __future__ import annotations

import json
import sys

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap


def main(path: str) -> dict:
    tcp_packets = checksum = 0
    packets = rdpcap(path)
    for frame_number, pkt in enumerate(packets, start=1):
        if TCP not in pkt:
            continue
        tcp = pkt[TCP]
        if IP in pkt:
            ip = pkt[IP]
            tcp_len = ip.len - ip.ihl * 4 - tcp.dataofs * 4
        elif IPv6 in pkt:
            ip = pkt[IPv6]
            tcp_len = ip.plen - tcp.dataofs * 4
        else:
            continue
        fields = (frame_number, int(tcp.flags) | (tcp.reserved << 9), tcp.seq, tcp.ack, tcp_len,
                  ip.src, ip.dst, tcp.sport, tcp.dport)  # fmt: skip
        checksum = (checksum + fields[0] + fields[1] + fields[2] + fields[3] + fields[4]
                    + len(fields[5]) + len(fields[6]) + fields[7] + fields[8]) & 0xFFFFFFFFFFFFFFFF  # fmt: skip
        tcp_packets += 1
    return {"records": len(packets), "tcp_packets": tcp_packets, "checksum": checksum}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
