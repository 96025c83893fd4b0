"""pcapng blocks and options as the writer builds them: the layouts as data, bytes out.

Reference: draft-ietf-opsawg-pcapng (sections 3 to 4.3). The block layouts are the reader's
(analysis.pcap.formats), so reading and writing cannot disagree on a field. What the writer adds:

- the option codes it writes (:class:`Option`);
- :data:`OPTIONS_AT`: where the options of each block that may carry comments start;
- the glue between two Enhanced Packet Blocks made from classic pcap records (:data:`GLUE`): the
  previous block's padding and trailing length, then the next block's header. With it, a record's
  block is two pieces of memory: its captured bytes, where the input file has them, and a glue row.

Every value is written in the byte order of its section: '<' for a file made from classic pcap, the
section's own for a copied pcapng section.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.pcap.formats import (
    PCAPNG_BLOCK_HEADER,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_EPB,
    PCAPNG_EPB_BODY,
    PCAPNG_IDB,
    PCAPNG_IDB_BODY,
    PCAPNG_OPB,
    PCAPNG_OPTION_HEADER,
    PCAPNG_SHB_BODY,
    PCAPNG_SHB_TYPE,
    dtype,
    size,
)


class Option(IntEnum):
    """The option codes the writer reads or writes (draft-ietf-opsawg-pcapng 3.5, 4.1, 4.2)."""

    ENDOFOPT = 0
    COMMENT = 1  # opt_comment: UTF-8 text, in any block, may repeat
    SHB_USERAPPL = 4  # the application that wrote the section: one per section
    IF_TSRESOL = 9  # 1 byte: 10^-n seconds per timestamp tick (6, microseconds, when absent)
    IF_FCSLEN = 13  # 1 byte: the length of the frame check sequence at the end of each packet, in bits


MAX_OPTION_BYTES = 0xFFFF  # an option's length field is 16 bits
VERSION = (1, 0)
UNKNOWN_SECTION_LENGTH = -1

SHB = PCAPNG_BLOCK_HEADER + PCAPNG_SHB_BODY
IDB = PCAPNG_BLOCK_HEADER + PCAPNG_IDB_BODY
EPB = PCAPNG_BLOCK_HEADER + PCAPNG_EPB_BODY
#: [padding of the previous block's data][its trailing total length][the next block's header]
GLUE = [("padding", "u4"), ("trailer", "u4")] + EPB
GLUE_HEADER_AT = size([("padding", "u4"), ("trailer", "u4")])  # the next block's header starts here in a row
EPB_HEADER_LEN = size(EPB)
TRAILER_LEN = 4


def padding(length):
    """Bytes that pad ``length`` to a multiple of 4 (an int or an array)."""
    return -length % 4


#: Block type -> where its options start, given the block's captured length (packet blocks pad their data).
OPTIONS_AT: dict[int, Callable[[int], int]] = {
    PCAPNG_EPB: lambda caplen: EPB_HEADER_LEN + caplen + padding(caplen),
    PCAPNG_OPB: lambda caplen: EPB_HEADER_LEN + caplen + padding(caplen),  # its body is as long as the EPB's
    PCAPNG_SHB_TYPE: lambda _: size(SHB),
}
#: Where a packet block's captured length is: after the header and the first 12 bytes of the body.
CAPLEN_AT = size(PCAPNG_BLOCK_HEADER) + 12


def option(code: int, value: bytes, order: str) -> bytes:
    """One option: code, length, value, zero padding to 32 bits."""
    return struct.pack(order + "HH", code, len(value)) + value + bytes(padding(len(value)))


def comment_value(text: str) -> bytes:
    """``text`` as an opt_comment value: UTF-8, cut (at a character) to what an option can hold."""
    raw = text.encode()
    if len(raw) <= MAX_OPTION_BYTES:
        return raw
    return raw[: MAX_OPTION_BYTES - 3].decode(errors="ignore").encode() + "…".encode()


def comment_options(texts: pa.Array, bounds: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The opt_comment options of many blocks at once: ``texts[bounds[i]:bounds[i + 1]]`` (an Arrow string
    array) are block i's. Returns one buffer and, per block, where its options start in it and how long they
    are (with the end-of-options marker). The headers are written column-wise; each text is one copy."""
    texts = texts.cast(pa.large_string())
    value = pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(value) and value.max() > MAX_OPTION_BYTES:
        texts = pa.array([comment_value(text).decode() for text in texts.to_pylist()], pa.large_string())
        value = pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    bounds = np.asarray(bounds, dtype=np.int64)
    last = np.zeros(len(value), dtype=bool)
    last[bounds[1:][bounds[1:] > bounds[:-1]] - 1] = True  # each block's options end with the end-of-options marker
    size = 4 + value + padding(value) + 4 * last
    at = np.concatenate([[0], np.cumsum(size)])
    encoded = np.zeros(int(at[-1]), dtype=np.uint8)
    halves = encoded.view(order + "u2")  # every option starts on a 32-bit boundary
    halves[at[:-1] // 2], halves[at[:-1] // 2 + 1] = Option.COMMENT, value  # the end marker is all zeros
    if len(texts):
        offsets, data = texts.buffers()[1], texts.buffers()[2]
        start = np.frombuffer(offsets, dtype=np.int64)[texts.offset : texts.offset + len(texts)].tolist()
        into, source = memoryview(encoded), memoryview(data if data is not None else b"").cast("B")
        for to, fro, n in zip((at[:-1] + 4).tolist(), start, value.tolist()):
            into[to : to + n] = source[fro : fro + n]
    return encoded, at[bounds[:-1]], at[bounds[1:]] - at[bounds[:-1]]


def option_list(body: bytes, offset: int, order: str) -> list[tuple[int, bytes]] | None:
    """Every option of a block, in order (repeats included), from ``offset`` to the end of ``body`` (the block
    without its trailing length); None when one runs past the block."""
    found, end = [], len(body)
    header = dtype(PCAPNG_OPTION_HEADER, order)
    while offset + header.itemsize <= end:
        code, length = (int(v) for v in np.frombuffer(body, header, 1, offset)[0])
        if code == Option.ENDOFOPT:
            break
        value_end = offset + header.itemsize + length
        if value_end > end:
            return None
        found.append((code, bytes(body[offset + header.itemsize : value_end])))
        offset = value_end + padding(length)
    return found


def block(btype: int, body: bytes, order: str) -> bytes:
    """A whole block: type, total length, body (a multiple of 4 bytes), total length again."""
    total = size(PCAPNG_BLOCK_HEADER) + len(body) + TRAILER_LEN
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def with_options(btype: int, fixed: bytes, options: list[tuple[int, bytes]], order: str) -> bytes:
    """A block from its fixed body and its options (then the end-of-options marker)."""
    encoded = b"".join(option(code, value, order) for code, value in options)
    return block(btype, fixed + encoded + (option(Option.ENDOFOPT, b"", order) if options else b""), order)


def section_header(options: list[tuple[int, bytes]], order: str = "<") -> bytes:
    fixed = np.array([(PCAPNG_BYTE_ORDER_MAGIC, *VERSION, UNKNOWN_SECTION_LENGTH)], dtype(PCAPNG_SHB_BODY, order))
    return with_options(PCAPNG_SHB_TYPE, fixed.tobytes(), options, order)


def interface(linktype: int, snaplen: int, options: list[tuple[int, bytes]], order: str = "<") -> bytes:
    fixed = np.array([(linktype, 0, snaplen)], dtype(PCAPNG_IDB_BODY, order))
    return with_options(PCAPNG_IDB, fixed.tobytes(), options, order)


def options_at(original: bytes, order: str) -> int | None:
    """Where the options of ``original`` (a whole block of a type in OPTIONS_AT) start; None past its end."""
    btype = struct.unpack_from(order + "I", original)[0]
    caplen = struct.unpack_from(order + "I", original, CAPLEN_AT)[0] if btype != PCAPNG_SHB_TYPE else 0
    at = OPTIONS_AT[btype](caplen)
    return at if at <= len(original) - TRAILER_LEN else None


def options_of(original: bytes, order: str) -> list[tuple[int, bytes]] | None:
    """The options of ``original`` (see options_at), in order; None when they are malformed."""
    at = options_at(original, order)
    return None if at is None else option_list(original[: len(original) - TRAILER_LEN], at, order)


def amended(original: bytes, order: str, replace: dict[int, bytes], add: list[tuple[int, bytes]]) -> bytes | None:
    """``original`` (a whole block that may carry options) with options ``replace``d (code -> the one value
    it keeps) and ``add``ed after the others; a section header's length becomes unknown. None when its
    options are malformed: the block is then left as it was."""
    options = options_of(original, order)
    if options is None:
        return None
    btype = struct.unpack_from(order + "I", original)[0]
    fixed = bytearray(original[size(PCAPNG_BLOCK_HEADER) : options_at(original, order)])
    if btype == PCAPNG_SHB_TYPE:
        struct.pack_into(order + "q", fixed, 8, UNKNOWN_SECTION_LENGTH)  # its blocks change length
    kept = [(code, value) for code, value in options if code not in replace]
    return with_options(btype, bytes(fixed), kept + list(replace.items()) + add, order)


def glue_rows(count: int) -> np.ndarray:
    """``count`` zeroed GLUE rows (little-endian: the writer makes classic pcap into a little-endian section)."""
    return np.zeros(count, dtype(GLUE, "<"))
