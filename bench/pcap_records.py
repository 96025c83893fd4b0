"""Record-level pcap helpers for the benchmark: count, slice, concatenate with a time shift.

Only classic pcap (the format `tcpdump -w` writes), any byte order, micro- or
nanosecond. These helpers only walk the 16-byte record headers; they never
parse packets, so they are not a competitor in the benchmark.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

GLOBAL_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
BLOCK_BYTES = 8 << 20

#: magic as read little-endian -> (struct byte-order prefix, timestamp unit name)
MAGICS = {
    0xA1B2C3D4: ("<", "us"),
    0xA1B23C4D: ("<", "ns"),
    0xD4C3B2A1: (">", "us"),
    0x4D3CB2A1: (">", "ns"),
}


class NotClassicPcap(ValueError):
    pass


def byte_order(path: Path) -> tuple[str, bytes]:
    """Return (struct byte-order prefix, 24-byte global header) of a classic pcap."""
    with open(path, "rb") as f:
        header = f.read(GLOBAL_HEADER_BYTES)
    if len(header) < GLOBAL_HEADER_BYTES:
        raise NotClassicPcap(f"{path}: shorter than a pcap global header")
    magic = struct.unpack("<I", header[:4])[0]
    if magic not in MAGICS:
        raise NotClassicPcap(f"{path}: not a classic pcap file (magic {magic:#010x}); pcapng is not handled here")
    return MAGICS[magic][0], header


def _blocks(path: Path) -> Iterator[tuple[bytearray, list[int]]]:
    """Yield (block, record offsets in it): blocks cut on record boundaries.

    A truncated last record is dropped. Working block by block keeps the helpers
    fast on multi-GB files while memory stays bounded by BLOCK_BYTES.
    """
    order, _ = byte_order(path)
    caplen_of = struct.Struct(order + "8xI").unpack_from
    with open(path, "rb") as f:
        f.seek(GLOBAL_HEADER_BYTES)
        carry = b""
        while data := f.read(BLOCK_BYTES):
            block = bytearray(carry + data)
            offsets = []
            pos, end = 0, len(block)
            while pos + RECORD_HEADER_BYTES <= end:
                total = RECORD_HEADER_BYTES + caplen_of(block, pos)[0]
                if pos + total > end:
                    break
                offsets.append(pos)
                pos += total
            carry = bytes(block[pos:])
            del block[pos:]
            yield block, offsets


def count_records(path: Path) -> int:
    return sum(len(offsets) for _, offsets in _blocks(path))


def first_last_ts_s(path: Path) -> tuple[int, int]:
    """Seconds field of the first and last record (enough to size a time shift)."""
    sec_of = struct.Struct(byte_order(path)[0] + "I").unpack_from
    first = last = None
    for block, offsets in _blocks(path):
        if offsets:
            first = sec_of(block, offsets[0])[0] if first is None else first
            last = sec_of(block, offsets[-1])[0]
    if first is None:
        raise NotClassicPcap(f"{path}: no records")
    return first, last


def _copy_records(src: Path, out, max_records: int | None, shift_s: int = 0) -> int:
    """Append src's first max_records records to the open file `out`, seconds shifted by shift_s."""
    sec_field = struct.Struct(byte_order(src)[0] + "I")
    taken = 0
    for block, offsets in _blocks(src):
        if max_records is not None and taken + len(offsets) > max_records:
            keep = max_records - taken
            if keep <= 0:
                break
            del block[offsets[keep]:]
            offsets = offsets[:keep]
        if shift_s:
            for pos in offsets:
                sec_field.pack_into(block, pos, sec_field.unpack_from(block, pos)[0] + shift_s)
        out.write(block)
        taken += len(offsets)
    return taken


def write_head(src: Path, dst: Path, records: int) -> int:
    """Write the first `records` records of src to dst; return how many were written."""
    _, header = byte_order(src)
    with open(dst, "wb") as out:
        out.write(header)
        return _copy_records(src, out, records)


def write_shifted_copies(src: Path, dst: Path, copies: int, max_records: int | None = None) -> int:
    """Concatenate `copies` copies of src's first max_records records, copy i shifted i*span s later.

    The shift keeps time increasing, so the result reads as one long capture in
    which the same port pairs are reused later (as happens in production). Returns
    the number of records written.
    """
    _, header = byte_order(src)
    first_s, last_s = first_last_ts_s(src)
    span_s = last_s - first_s + 2
    with open(dst, "wb") as out:
        out.write(header)
        return sum(_copy_records(src, out, max_records, copy * span_s) for copy in range(copies))
