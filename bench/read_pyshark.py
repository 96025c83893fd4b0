"""Competitor: pyshark (tshark's PDML dissection behind Python objects).

    python bench/read_pyshark.py FILE

About 600 s on the 1M-packet file, so run_bench.py runs it on a 1 % slice and
extrapolates (labelled as such). Same fields, checksum and JSON line as the others.
"""

from __future__ import annotations

import json
import sys

import pyshark


def main(path: str) -> dict:
    records = tcp_packets = checksum = 0
    capture = pyshark.FileCapture(path, keep_packets=False, override_prefs={"tcp.analyze_sequence_numbers": "FALSE"})
    try:
        for pkt in capture:
            records += 1
            if "TCP" not in pkt:
                continue
            tcp = pkt.tcp
            ip = pkt.ip if "IP" in pkt else pkt.ipv6
            fields = (int(pkt.number), int(tcp.flags, 16), int(tcp.seq_raw), int(tcp.ack_raw), int(tcp.len),
                      ip.src, ip.dst, int(tcp.srcport), int(tcp.dstport))  # fmt: skip
            checksum = (checksum + fields[0] + fields[1] + fields[2] + fields[3] + fields[4]
                        + len(fields[5]) + len(fields[6]) + fields[7] + fields[8]) & 0xFFFFFFFFFFFFFFFF  # fmt: skip
            tcp_packets += 1
    finally:
        capture.close()
    return {"records": records, "tcp_packets": tcp_packets, "checksum": checksum}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
