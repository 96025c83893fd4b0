"""A capture's records as the file holds them, window by window: what a writer needs to copy them unchanged.

The reader (scan.py) turns records into header fields. A writer that must keep every packet byte for byte
(analysis.pcapng) needs more: where each record's bytes lie, its timestamp in the file's own unit, and, for
pcapng, every block whole (interface descriptions, statistics, name resolution, anything unknown), so that
it can copy them as they are. Both read through the same window (window.py) and walk (walk.py, in C when
built); damage follows damage.py: the records before it, then a warning naming the byte offset.

    pcap_windows(f, warnings) -> (PcapFile, iterator of PcapWindow)
    pcapng_windows(f, warnings) -> iterator of BlockWindow

A window's arrays index its ``data``, which is valid until the next window is asked for, or for as long as
it is held when the window is ``lasting`` (a big file mapped a window at a time: each window is a mapping
of its own, so a writer may still be writing one while the next is walked).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from . import damage
from .formats import (MAX_CAPLEN, PCAP_FILE_HEADER, PCAP_MAGICS, PCAPNG_PACKET_BLOCKS, PCAPNG_SHB_TYPE, PcapVariant,
                      dtype)
from .scan import CHUNK_BYTES, MAX_BLOCK_IN_WINDOW, PCAP_HEADER_LEN, PCAPNG_MIN_BLOCK, gather
from .walk import PCAP_RECORD_LEN, walk, walk_pcap
from .window import MappedWindow, open_window

#: The byte-order magic of a section header, as it reads in each order.
_BYTE_ORDERS = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}


@dataclass(frozen=True)
class PcapFile:
    """A classic pcap file's header, as far as a pcapng writer needs it."""

    variant: PcapVariant
    snaplen: int
    linktype: int  # the header's whole field: LINKTYPE in the low 16 bits, FCS information above


@dataclass
class PcapWindow:
    """The whole pcap records of one window."""

    data: np.ndarray  # uint8 view of the window
    base: int  # the file offset of data[0]
    lasting: bool  # data stays valid after the next window is asked for (a mapping of its own)
    first_frame: int
    data_off: np.ndarray  # int64: where each record's captured bytes start in data
    caplen: np.ndarray  # int64
    origlen: np.ndarray  # int64
    ticks: np.ndarray  # uint64: seconds * ticks per second + fraction, in the file's unit (µs or ns)


@dataclass
class BlockWindow:
    """The whole pcapng blocks of one window, all of one section."""

    data: np.ndarray
    base: int
    lasting: bool
    first_frame: int  # the frame number of the window's first packet block
    start: np.ndarray  # int64: where each block starts in data
    length: np.ndarray  # int64: its total length
    type: np.ndarray  # int64: its block type
    order: str  # its section's byte order, '<' or '>'

    @property
    def is_packet(self) -> np.ndarray:
        return np.isin(self.type, PCAPNG_PACKET_BLOCKS)


def pcap_windows(f: BinaryIO, warnings: list[str],
                 chunk_bytes: int = CHUNK_BYTES) -> tuple[PcapFile, Iterator[PcapWindow]]:
    """The file header and the records of a classic pcap file (``f`` at its start)."""
    head = f.read(PCAP_HEADER_LEN)
    variant = PCAP_MAGICS[head[:4]]
    if len(head) < PCAP_HEADER_LEN:
        raise damage.header_cut_short(getattr(f, "name", "?"), "pcap file header", len(head), PCAP_HEADER_LEN)
    header = np.frombuffer(head, dtype=dtype(PCAP_FILE_HEADER, variant.order))[0]
    return PcapFile(variant, int(header["snaplen"]), int(header["linktype"])), _pcap_records(f, variant, warnings,
                                                                                           chunk_bytes)


def _pcap_records(f: BinaryIO, variant: PcapVariant, warnings: list[str], chunk_bytes: int) -> Iterator[PcapWindow]:
    window = open_window(f, chunk_bytes)
    window.base = PCAP_HEADER_LEN
    frame = 1
    with closing(window):
        while True:
            window.refill()
            found = walk_pcap(window.buf, window.start, window.end, variant.order, variant.ns_per_tick, MAX_CAPLEN)
            window.start = found.stop
            done = window.eof and window.start >= window.end
            problem = None if done else _pcap_damage(window, variant, found.stop)
            if len(found.data_off):
                if not problem:
                    window.prefetch()  # the next window is read while the caller copies this one
                yield PcapWindow(window.array(), window.base, isinstance(window, MappedWindow), frame, found.data_off,
                                 found.caplen, found.origlen, (found.ts_ns // variant.ns_per_tick).astype(np.uint64))
                frame += len(found.data_off)
            if problem:
                warnings.append(problem)
            if done or problem:
                break
        warnings.extend(window.warnings)


def _pcap_damage(window, variant: PcapVariant, stop: int) -> str | None:
    """Why the walk stopped before the end of the window, if that is damage (else: the record goes on in the next)."""
    mv = window.mv[: window.end]
    claimed = struct.unpack_from(variant.order + "I", mv, stop + 8)[0] if stop + 12 <= window.end else None
    if claimed is not None and claimed > MAX_CAPLEN:
        return damage.record_too_big(window.base + stop, claimed)
    if window.eof:
        return damage.record_cut_short(window.base + stop, window.end - stop, PCAP_RECORD_LEN + (claimed or 0))
    return None


def pcapng_windows(f: BinaryIO, warnings: list[str], chunk_bytes: int = CHUNK_BYTES) -> Iterator[BlockWindow]:
    """The blocks of a pcapng file (``f`` at its start), a window at a time, cut at each section header."""
    size = os.fstat(f.fileno()).st_size
    window = open_window(f, chunk_bytes)
    frame, order = 1, None
    with closing(window):
        while True:
            window.refill()
            if window.end - window.start >= 12 and _type_at(window, window.start) == PCAPNG_SHB_TYPE:
                order = _BYTE_ORDERS.get(bytes(window.mv[window.start + 8 : window.start + 12]))
            if order is None:
                warnings.append(damage.bad_block(window.offset, "no section header with a byte-order magic"))
                break
            blocks, problem = _whole_blocks(window, order, frame)
            if blocks is not None:
                window.start = int(blocks.start[-1] + blocks.length[-1])
                if not problem:
                    window.prefetch()
                yield blocks
                frame += int(blocks.is_packet.sum())
            if window.eof and window.start >= window.end:
                break
            if blocks is not None and not problem:
                continue  # the walk stopped at the end of the window or at a section header: read on from there
            problem = problem or _block_problem(window, order, size)
            if problem:
                warnings.append(problem)
                break
        warnings.extend(window.warnings)


def _type_at(window, offset: int) -> int:
    return struct.unpack_from("<I", window.mv, offset)[0]  # the section header's type reads the same both ways


def _whole_blocks(window, order: str, frame: int) -> tuple[BlockWindow | None, str | None]:
    """The blocks lying whole in the window from its start, up to (not into) a later section header or damage."""
    at, _ = walk(window.mv[: window.end], window.start, window.end, 4, 0, order, PCAPNG_MIN_BLOCK)
    if not len(at):
        return None, None
    data = window.array()
    head = gather(data, at, 8).view(order + "u4")
    btype, blen = head[:, 0].astype(np.int64), head[:, 1].astype(np.int64)
    trailer = gather(data, np.maximum(at + blen - 4, 0), 4).view(order + "u4")[:, 0]
    bad = (blen < PCAPNG_MIN_BLOCK) | (blen % 4 != 0) | (trailer != blen)
    new_section = (btype == PCAPNG_SHB_TYPE) & (np.arange(len(at)) > 0)
    cut = np.flatnonzero(bad | new_section)
    problem = None
    if len(cut):
        k = int(cut[0])
        if bad[k]:
            problem = damage.bad_block(window.base + int(at[k]), "trailer length mismatch" if blen[k] % 4 == 0
                                       and blen[k] >= PCAPNG_MIN_BLOCK else f"block length {int(blen[k])}")
        at, btype, blen = at[:k], btype[:k], blen[:k]
    if not len(at):
        return None, problem
    return BlockWindow(data, window.base, isinstance(window, MappedWindow), frame, at, blen, btype, order), problem


def _block_problem(window, order: str, size: int) -> str | None:
    """Why no whole block starts at the window's start: damage (a message), or None when the window must grow.

    A block too big for a window that is not a packet or a header is skipped, as the reader skips it (said
    in a warning, since it is then missing from the copy); a packet block that big is damage, as for the
    reader.
    """
    start, where = window.start, window.offset
    if window.end - start < 8:
        return damage.bad_block(where, "block header cut short") if window.eof else None
    btype, blen = struct.unpack_from(order + "II", window.mv, start)
    if blen < PCAPNG_MIN_BLOCK or blen % 4:
        return damage.bad_block(where, f"block length {blen}")
    if where + blen > size:
        return damage.record_cut_short(where, size - where, blen)
    if blen > MAX_BLOCK_IN_WINDOW:
        if btype in PCAPNG_PACKET_BLOCKS or btype == PCAPNG_SHB_TYPE:
            return damage.bad_block(where, f"block length {blen} for a block of type {btype:#x}")
        window.warnings.append(f"a block of type {btype:#x} and {blen} bytes at byte offset {where} is not "
                               "copied (too big to hold)")
        window.skip_to(where + blen)
    return None


__all__ = ["BlockWindow", "PcapFile", "PcapWindow", "pcap_windows", "pcapng_windows"]
