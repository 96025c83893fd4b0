"""Writing pcapng: a capture copied packet for packet, with comments on the packets that tell a story.

    blocks.py  the block and option layouts the writer uses, as data (the reader's, analysis.pcap.formats)
    gather.py  many pieces of memory to a file in few writev calls (pieces as numpy arrays)
    copy.py    a pcap or pcapng file -> pcapng, window by window: packets unchanged, comments added

Why a writer of our own and not scapy's PcapNgWriter (measured, scapy 2.8.0, on the 1M-packet benchmark
capture and the sample bundles): scapy writes a packet a Python call at a time (about 25 µs a packet:
25 s for the benchmark file, against the parquet export's 1.2 s), it rebuilds each block from a Packet
object, and it has no way to copy a pcapng file's other blocks (statistics, name resolution, unknown
ones) through. This writer copies the records' bytes from the input's window to the output with
writev, never making a Python object per packet, and keeps each timestamp in the file's own unit.

The I/O shell, like analysis.export: it reads a capture and writes a file; the comments come from
analysis.annotate.
"""
