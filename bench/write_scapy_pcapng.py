"""The alternative to abortscope's pcapng writer: scapy's RawPcapNgWriter, fed the raw records.

    python bench/write_scapy_pcapng.py FILE

The least scapy can do for `abortscope annotate`: every record read raw (RawPcapReader, no dissection) and
written as an Enhanced Packet Block with a comment on one record in ten, through the writer's
``_write_packet`` (its public ``write`` takes comments only from Packet objects). It writes microsecond
timestamps whatever the input's (scapy 2.8.0's writer has no if_tsresol), a fixed snaplen, no section
header comment. run_bench.py runs it on a 1 % slice and extrapolates (labelled as such). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from scapy.utils import RawPcapNgWriter, RawPcapReader


def main(path: str) -> dict:
    records = 0
    reader = RawPcapReader(path)
    fd, out = tempfile.mkstemp(suffix=".pcapng")
    os.close(fd)
    try:
        writer = RawPcapNgWriter(out)
        writer.linktype = reader.linktype
        writer._write_header(None)
        ticks = 1e9 if reader.nano else 1e6
        for data, meta in reader:
            writer._write_packet(data, linktype=reader.linktype, sec=meta.sec + meta.usec / ticks, caplen=meta.caplen,
                                 wirelen=meta.wirelen, comments=[b"a comment"] if records % 10 == 0 else None)
            records += 1
        writer.close()
        written = os.path.getsize(out)
    finally:
        os.unlink(out)
    return {"records": records, "bytes_written": written}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
