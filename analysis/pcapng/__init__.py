"""Writing pcapng: a capture copied packet for packet, with comments on the packets that tell a story.

    blocks.py  the block and option layouts the writer uses, as data (the reader's, analysis.pcap.formats)
    gather.py  many pieces of memory to a file in few writev calls (pieces as numpy arrays)
    copy.py    a pcap or pcapng file -> pcapng, window by window: packets unchanged, comments added

Why a writer of our own and not scapy's PcapNgWriter (measured with scapy 2.8.0 on the 1M-packet
benchmark capture, bench/write_scapy_pcapng.py, and on the sample bundles):

- speed: scapy builds each block in Python, 7.3 µs a packet for the writing alone (0.73 s for the first
  100,000 records, so about 7 s for the file, plus RawPcapReader's 3.7 s to feed it); this writer copies the
  records' bytes from the input's window to the output with writev and makes no Python object per packet:
  0.4-0.7 s for the 1.82 GB file written to /dev/null, the rest being the disk's own cost;
- fidelity: scapy's writer has a fixed microsecond resolution (1795474082.775726278 came out as
  ...775726000 from the nanosecond sample captures), a fixed snaplen, takes per-packet comments only from
  Packet objects (raw records need its private ``_write_packet``), writes no section header options (no
  place for what made the file), and cannot pass a pcapng file's other blocks (statistics, name
  resolution, unknown ones) through. Here the timestamp stays in the file's own unit (``if_tsresol`` 9 for
  a nanosecond pcap), and a pcapng input keeps every block.

The I/O shell, like analysis.export: it reads a capture and writes a file; the comments come from
analysis.annotate.
"""
