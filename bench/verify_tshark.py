"""Untimed check: tshark's fields on the file fold to the same checksum as the Python readers.

    python bench/verify_tshark.py FILE       # prints {"tcp_packets": N, "checksum": C}

Same fold as the reader legs: the sum of frame number, 12-bit flags, raw seq,
raw ack, tcp.len, the lengths of the address strings and both ports, mod 2**64.
run_bench.py --verify-tshark calls this once and records whether it agrees.
"""

from __future__ import annotations

import json
import subprocess
import sys

from legs import TSHARK_FIELDS

MASK_64 = 0xFFFFFFFFFFFFFFFF


def tshark_checksum(path: str) -> dict:
    argv = ["tshark", "-r", path, "-n", "-T", "fields", "-o", "tcp.analyze_sequence_numbers:FALSE"]
    argv += [arg for field in TSHARK_FIELDS for arg in ("-e", field)]
    tcp_packets = checksum = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        for line in proc.stdout:
            frame, flags, seq, ack, length, src4, dst4, src6, dst6, sport, dport = line.rstrip("\n").split("\t")
            if not sport:
                continue  # not TCP
            checksum += int(frame) + int(flags, 16) + int(seq) + int(ack) + int(length)
            checksum += len(src4 or src6) + len(dst4 or dst6) + int(sport) + int(dport)
            tcp_packets += 1
    return {"tcp_packets": tcp_packets, "checksum": checksum & MASK_64}


if __name__ == "__main__":
    print(json.dumps(tshark_checksum(sys.argv[1])))
