"""The project's own reader alone, without the analysis: analysis.pcap.iter_packet_chunks.

    python bench/read_fast.py FILE

Streams the packet table chunk by chunk (bounded memory) and folds the same
fields as the other competitors into the same checksum, so this leg also checks
that the fast reader agrees with scapy, dpkt and tshark on the benchmark file.
"""

from __future__ import annotations

import json
import sys

from analysis.pcap import iter_packet_chunks
from analysis.pcap.table import ReadReport

SUMMED = ["frame", "flags", "seq_raw", "ack_raw", "len", "sport", "dport"]


def main(path: str) -> dict:
    report = ReadReport()
    tcp_packets = checksum = 0
    for chunk in iter_packet_chunks(path, report=report):
        tcp_packets += len(chunk)
        checksum += int(chunk[SUMMED].sum().sum())
        checksum += int(chunk["src"].str.len().sum()) + int(chunk["dst"].str.len().sum())
    return {"records": report.records, "tcp_packets": tcp_packets, "checksum": checksum & 0xFFFFFFFFFFFFFFFF,
            "warnings": report.warnings[:3]}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
