"""Record boundaries and record headers, streamed through a fixed-size window.

The file goes through a window of CHUNK_BYTES (window.py: big files mapped
a window at a time, others copied, the next window read ahead). Each
header says where the next record starts, so the walk over record headers
is a sequential loop (walk.py, in C when built). For classic pcap the walk
reads the header fields as it goes (walk_pcap: one call per window); for
pcapng it collects block offsets and the fields are then gathered for all
blocks of the window at once with numpy.
A RecordBatch is a view of the window: decode it before asking for the next.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import damage
from .formats import (
    MAX_CAPLEN,
    PCAP_FILE_HEADER,
    PCAP_MAGICS,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_OPB,
    PCAPNG_PACKET_BLOCKS,
    PCAPNG_SHB_TYPE,
    PCAPNG_SPB,
    TsResolution,
    dtype,
    interface_clock,
    parse_options,
    size,
)
from .walk import PCAP_RECORD_LEN, walk, walk_pcap
from .window import Window, open_window

CHUNK_BYTES = 32 << 20
#: Blocks we must hold whole (packets, interface and section headers) may grow the window up to this.
MAX_BLOCK_IN_WINDOW = 16 << 20
PCAP_HEADER_LEN = size(PCAP_FILE_HEADER)
PCAPNG_MIN_BLOCK = 12  # type, length, trailing length


@dataclass
class RecordBatch:
    """Records of one window: offsets into `data` and per-record header fields."""

    data: np.ndarray  # uint8 view of the window (valid until the next batch)
    first_frame: int
    data_off: np.ndarray  # int64: where each record's captured bytes start in `data`
    caplen: np.ndarray  # int64
    origlen: np.ndarray  # int64
    ts_ns: np.ndarray  # int64
    iface: np.ndarray  # int32
    linktype: np.ndarray  # int32


@dataclass
class ScanState:
    """What the scan learned besides the records (goes into the ReadReport)."""

    warnings: list[str] = field(default_factory=list)
    bad_ts_count: int = 0
    bad_ts_first_frame: int = 0
    bytes_read: int = 0
    records: int = 0


def gather(data: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """(n, width) bytes starting at each position (callers guarantee bounds).

    Indexing a sliding-window view copies `width` bytes per row from one index,
    about 3x faster than a (n, width) index matrix.
    """
    return sliding_window_view(data, width)[pos]


def scan_pcap(f: BinaryIO, file_size: int, state: ScanState, chunk_bytes: int = CHUNK_BYTES, path: str = "") -> Iterator[RecordBatch]:
    head = f.read(PCAP_HEADER_LEN)
    variant = PCAP_MAGICS[head[:4]]
    if len(head) < PCAP_HEADER_LEN:
        raise damage.header_cut_short(path, "pcap file header", len(head), PCAP_HEADER_LEN)
    header = np.frombuffer(head, dtype=dtype(PCAP_FILE_HEADER, variant.order))[0]
    linktype = int(header["linktype"]) & 0xFFFF
    window = open_window(f, chunk_bytes)
    window.base = PCAP_HEADER_LEN
    with closing(window):
        yield from _pcap_batches(window, variant, linktype, state)
        state.warnings.extend(window.warnings)


def _pcap_batches(window: Window, variant, linktype: int, state: ScanState) -> Iterator[RecordBatch]:
    frame = 1
    # the file's one link type, per record: filled once and sliced (filling it anew each window is a numpy
    # call that lets go of the GIL, and each one costs the reading thread a wait while pandas imports)
    linktypes = np.empty(0, dtype=np.int32)
    while True:
        window.refill()
        mv = window.mv[: window.end]
        records = walk_pcap(window.buf, window.start, window.end, variant.order, variant.ns_per_tick, MAX_CAPLEN)
        stop = records.stop
        problem = None
        if stop + 12 <= window.end and (claimed := struct.unpack_from(variant.order + "I", mv, stop + 8)[0]) > MAX_CAPLEN:
            problem = damage.record_too_big(window.base + stop, claimed)
        elif window.eof and stop < window.end:
            need = PCAP_RECORD_LEN + (struct.unpack_from(variant.order + "I", mv, stop + 8)[0] if stop + 12 <= window.end else 0)
            problem = damage.record_cut_short(window.base + stop, window.end - stop, need)
        n = len(records.data_off)
        if n > len(linktypes):
            linktypes = np.full(2 * n, linktype, dtype=np.int32)
        if n:
            if records.bad_ts:
                if not state.bad_ts_count:
                    state.bad_ts_first_frame = frame + records.first_bad_ts
                state.bad_ts_count += records.bad_ts
            if not problem:  # read the next window while this one is decoded
                window.start = stop
                window.prefetch()
            yield RecordBatch(
                data=window.array(),
                first_frame=frame,
                data_off=records.data_off,
                caplen=records.caplen,
                origlen=records.origlen,
                ts_ns=records.ts_ns,
                iface=np.zeros(n, dtype=np.int32),
                linktype=linktypes[:n],
            )
            frame += n
        state.records = frame - 1
        if problem:
            state.warnings.append(problem)
            state.bytes_read = window.base + (int(records.data_off[-1] + records.caplen[-1]) if n else window.start)
            return
        window.start = stop
        state.bytes_read = window.offset
        if window.eof and window.start >= window.end:
            return


# --- pcapng ------------------------------------------------------------------


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    resol: TsResolution
    offset_ns: int


@dataclass
class _Section:
    order: str = "<"
    interfaces: list[_Interface] = field(default_factory=list)


def _walk_pcapng(mv: memoryview, data: np.ndarray, off: int, end: int, order: str) -> tuple[np.ndarray, int]:
    """Offsets of the packet blocks in mv[off:end], and where the walk stopped.

    walk.py only follows block lengths; types, lengths and trailers
    are checked afterwards with numpy. The walk stops before a block that
    changes state (SHB, IDB) or is damaged, which the caller then handles.
    """
    at, off = walk(mv, off, end, 4, 0, order, PCAPNG_MIN_BLOCK)
    head = gather(data, at, 8).view(order + "u4")
    btype, blen = head[:, 0].astype(np.int64), head[:, 1].astype(np.int64)
    trailer = gather(data, np.maximum(at + blen - 4, 0), 4).view(order + "u4")[:, 0]
    is_packet = np.isin(btype, PCAPNG_PACKET_BLOCKS)
    stop_here = (blen < 12) | (blen % 4 != 0) | (btype == PCAPNG_SHB_TYPE) | (btype == PCAPNG_IDB) | (~is_packet & (trailer != blen))
    if stop_here.any():
        k = int(np.argmax(stop_here))
        return at[:k][is_packet[:k]], int(at[k])
    return at[is_packet], off


def scan_pcapng(f: BinaryIO, file_size: int, state: ScanState, chunk_bytes: int = CHUNK_BYTES, path: str = "") -> Iterator[RecordBatch]:
    window = open_window(f, chunk_bytes)
    with closing(window):
        yield from _pcapng_batches(window, file_size, state, path)
        state.warnings.extend(window.warnings)


def _pcapng_batches(window: Window, file_size: int, state: ScanState, path: str) -> Iterator[RecordBatch]:
    section = _Section()
    frame = 1
    first = True
    while True:
        window.refill()
        mv = window.mv[: window.end]
        if first:
            blen = _shb_length(mv, window.start) if window.end - window.start >= 12 else None
            if blen and window.start + blen > window.end and not window.eof and blen <= min(file_size, MAX_BLOCK_IN_WINDOW):
                continue  # a section header longer than the window: grow it
            problem = _control_block(window, mv, section)
            if problem:
                raise damage.CaptureFormatError(f"{path}: not a readable pcapng file: {problem}")
            first = False
            continue
        data = window.array()
        offsets, stop = _walk_pcapng(mv, data, window.start, window.end, section.order)
        batch, problem = _packet_batch(data, offsets, section, frame, window.base)
        if batch is not None:
            if not problem:  # read the next window while this one is decoded
                window.start = stop
                window.prefetch()
            yield batch
            frame += len(batch.data_off)
            state.records = frame - 1
        if problem:
            state.warnings.append(problem)
            state.bytes_read = window.base + (batch_end if (batch_end := _batch_end(data, offsets, batch, section.order)) else stop)
            return
        window.start = stop
        state.bytes_read = window.offset
        if window.eof and window.start >= window.end:
            return
        # The walk stopped: a state-changing block, a bad length, or the end of the window.
        if stop + 8 > window.end:
            if window.eof:
                state.warnings.append(damage.bad_block(window.offset, "block header cut short"))
                return
            continue
        btype, blen = struct.unpack_from(section.order + "II", mv, stop)
        if btype == PCAPNG_SHB_TYPE and stop + 12 <= window.end:
            blen = _shb_length(mv, stop) or blen
        if blen < 12 or blen % 4:
            state.warnings.append(damage.bad_block(window.offset, f"block length {blen}"))
            return
        if stop + blen > window.end:
            if window.offset + blen > file_size:
                state.warnings.append(damage.record_cut_short(window.offset, file_size - window.offset, blen))
                return
            if blen > MAX_BLOCK_IN_WINDOW:  # a huge block: skip it unless we need what is inside
                if btype in (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB, PCAPNG_IDB, PCAPNG_SHB_TYPE):
                    state.warnings.append(damage.bad_block(window.offset, f"block length {blen} for a block of type {btype:#x}"))
                    return
                window.skip_to(window.offset + blen)
            continue  # the refill keeps this block and grows the window if it does not fit
        if btype not in (PCAPNG_SHB_TYPE, PCAPNG_IDB):  # the walk stopped on a whole block: its trailer is wrong
            state.warnings.append(damage.bad_block(window.offset, "trailer length mismatch"))
            return
        problem = _control_block(window, mv, section)
        if problem:
            state.warnings.append(problem)
            return


def _batch_end(data, offsets, batch, order) -> int:
    if batch is None or not len(batch.data_off):
        return 0
    last = int(offsets[len(batch.data_off) - 1])
    return last + struct.unpack_from(order + "I", data, last + 4)[0]


def _shb_length(mv: memoryview, off: int) -> int | None:
    bom = bytes(mv[off + 8 : off + 12])
    order = ">" if bom == b"\x1a\x2b\x3c\x4d" else "<" if bom == b"\x4d\x3c\x2b\x1a" else None
    return struct.unpack_from(order + "I", mv, off + 4)[0] if order else None


def _control_block(window: Window, mv: memoryview, section: _Section) -> str | None:
    """Handle the SHB or IDB at window.start; advance past it. A message on damage."""
    off, end = window.start, window.end
    where = window.offset
    if off + 12 > end:
        return damage.bad_block(where, "block header cut short")
    btype = struct.unpack_from(section.order + "I", mv, off)[0]
    if btype == PCAPNG_SHB_TYPE:
        bom = bytes(mv[off + 8 : off + 12])
        order = ">" if bom == b"\x1a\x2b\x3c\x4d" else "<" if bom == b"\x4d\x3c\x2b\x1a" else None
        if order is None:
            return damage.bad_block(where, "bad byte-order magic in section header")
        blen = struct.unpack_from(order + "I", mv, off + 4)[0]
        if blen < 28 or blen % 4 or off + blen > end:
            return damage.bad_block(where, f"section header length {blen}")
        if struct.unpack_from(order + "I", mv, off + blen - 4)[0] != blen:
            return damage.bad_block(where, "section header trailer length mismatch")
        if parse_options(mv[off + 8 : off + blen - 4], 16, order) is None:
            return damage.bad_block(where, "section header option runs past its block")
        section.order, section.interfaces = order, []
    elif btype == PCAPNG_IDB:
        blen = struct.unpack_from(section.order + "I", mv, off + 4)[0]
        if blen < 20 or blen % 4 or off + blen > end:
            return damage.bad_block(where, f"interface description length {blen}")
        if struct.unpack_from(section.order + "I", mv, off + blen - 4)[0] != blen:
            return damage.bad_block(where, "trailer length mismatch")
        body = mv[off + 8 : off + blen - 4]
        options = parse_options(body, 8, section.order)
        if options is None:
            return damage.bad_block(where, "interface description too short or option past its block")
        linktype, _, snaplen = struct.unpack_from(section.order + "HHI", body, 0)
        resol, offset_ns = interface_clock(options, section.order)
        section.interfaces.append(_Interface(linktype, snaplen, resol, offset_ns))
    else:
        return damage.bad_block(where, f"expected a section header, found block type {btype:#x}")
    window.start = off + blen
    return None


def _packet_batch(data: np.ndarray, offsets: np.ndarray, section: _Section, frame: int, base: int) -> tuple[RecordBatch | None, str | None]:
    """Gather EPB/SPB/OPB headers; cut at the first bad block (returned as a message)."""
    if not len(offsets):
        return None, None
    order = section.order
    off = np.array(offsets, dtype=np.int64)
    words = gather(data, off, 28).view(order + "u4")  # type, len, then 5 body words (EPB/OPB)
    btype, blen = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
    is_spb, is_opb = btype == PCAPNG_SPB, btype == PCAPNG_OPB
    iface = words[:, 2].astype(np.int64)
    if is_opb.any():
        halves = gather(data, off[is_opb] + 8, 2).view(order + "u2")[:, 0]
        iface[is_opb] = halves
    iface[is_spb] = 0
    caplen = words[:, 5].astype(np.int64)
    origlen = words[:, 6].astype(np.int64)
    origlen[is_spb] = words[is_spb, 2]
    ticks = (words[:, 3].astype(np.uint64) << np.uint64(32)) | words[:, 4].astype(np.uint64)
    data_off = off + 28
    data_off[is_spb] = off[is_spb] + 12
    n_ifaces = len(section.interfaces)
    snap0 = section.interfaces[0].snaplen if n_ifaces else 0
    caplen[is_spb] = np.minimum.reduce([origlen[is_spb], blen[is_spb] - 16, np.full(int(is_spb.sum()), snap0 or MAX_CAPLEN), np.full(int(is_spb.sum()), MAX_CAPLEN)])
    short = np.where(is_spb, blen < 16, blen < 32)
    trailer = gather(data, off + blen - 4, 4).view(order + "u4")[:, 0]
    bad_iface = iface >= n_ifaces
    too_big = caplen > MAX_CAPLEN
    overrun = ~is_spb & (caplen > blen - 32)
    bad_trailer = trailer != blen
    bad = short | bad_iface | too_big | overrun | bad_trailer
    problem = None
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        where = base + int(offsets[k])
        if bad_trailer[k]:
            problem = damage.bad_block(where, "trailer length mismatch")
        elif too_big[k] and not short[k]:
            problem = damage.record_too_big(where, int(caplen[k]))
        elif bad_iface[k]:
            problem = damage.bad_block(where, f"unknown interface id {int(iface[k])}" if n_ifaces else "packet before any interface description")
        else:
            problem = damage.bad_block(where, "packet block shorter than its captured length")
        off, data_off, caplen, origlen, iface, ticks, is_spb = off[:k], data_off[:k], caplen[:k], origlen[:k], iface[:k], ticks[:k], is_spb[:k]
    if not len(off):
        return None, problem
    ts_ns = np.zeros(len(off), dtype=np.int64)
    linktype = np.zeros(len(off), dtype=np.int32)
    for i in np.unique(iface).tolist():
        m = iface == i
        itf = section.interfaces[i]
        ts_ns[m] = itf.resol.ticks_to_ns(ticks[m]) + np.int64(itf.offset_ns)
        linktype[m] = itf.linktype
    ts_ns[is_spb] = 0  # a Simple Packet Block has no timestamp
    batch = RecordBatch(
        data=data,
        first_frame=frame,
        data_off=data_off,
        caplen=caplen,
        origlen=origlen,
        ts_ns=ts_ns,
        iface=iface.astype(np.int32),  # the id inside its section, as tshark 4.0 prints frame.interface_id
        linktype=linktype,
    )
    return batch, problem
