"""pcapng blocks, streamed through the window: the packet blocks' offsets walked, their fields gathered with numpy.

Reference: draft-ietf-opsawg-pcapng. A file is sections, each a Section
Header Block (its byte-order magic sets the byte order of what follows)
and Interface Description Blocks (link type, snaplen, clock), then
records. walk.py only follows block lengths; types, lengths and trailers
are checked afterwards with numpy, and the walk stops before a block that
changes state (SHB, IDB) or is damaged, which _at_stop then handles.

Frame numbers are tshark's: every packet block is a frame, and so is every
block formats.PCAPNG_FRAMES_WITHOUT_PACKET names (custom, systemd journal
export and sysdig event blocks); those are counted as records that are not
TCP. A record whose timestamp int64 nanoseconds cannot hold is left out and
counted (its frame number stays taken), and reading goes on.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

import numpy as np

from . import damage
from .formats import (
    MAX_CAPLEN,
    PCAPNG_EPB,
    PCAPNG_FRAMES_WITHOUT_PACKET,
    PCAPNG_IDB,
    PCAPNG_OPB,
    PCAPNG_PACKET_BLOCKS,
    PCAPNG_SHB_TYPE,
    PCAPNG_SPB,
    PCAPNG_SYSTEMD_JOURNAL,
    SYSTEMD_JOURNAL_MIN_ENTRY,
    TsResolution,
    interface_clock,
    parse_options,
)
from .scan import MAX_BLOCK_IN_WINDOW, RecordBatch, ScanState, gather
from .walk import walk
from .window import Window, open_window

PCAPNG_MIN_BLOCK = 12  # type, length, trailing length
#: Blocks we must hold whole to go on (a huge one of another type is skipped).
_HELD_WHOLE = (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB, PCAPNG_IDB, PCAPNG_SHB_TYPE)
_OTHER_FRAMES = np.array(list(PCAPNG_FRAMES_WITHOUT_PACKET), dtype=np.int64)
#: _at_stop's answer when the block at the stop is not whole in the window yet.
_REFILL = "refill"


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


class _Walked(NamedTuple):
    """What _walk_pcapng found in the window from where it started to ``stop``."""

    offsets: np.ndarray  # the packet blocks
    frame_index: np.ndarray  # each packet block's frame, counted from 0 at the walk's start
    frames: int  # frames walked: packet blocks and PCAPNG_FRAMES_WITHOUT_PACKET blocks
    stop: int


def scan_pcapng(f: BinaryIO, file_size: int, state: ScanState, chunk_bytes: int, path: str = "") -> Iterator[RecordBatch]:
    window = open_window(f, chunk_bytes)
    with closing(window):
        yield from _pcapng_batches(window, file_size, state, path)
        state.warnings.extend(window.warnings)


def _pcapng_batches(window: Window, file_size: int, state: ScanState, path: str) -> Iterator[RecordBatch]:
    section = _Section()
    frame = 1
    _first_section(window, file_size, section, path)
    while True:
        window.refill()
        mv = window.mv[: window.end]
        data = window.array()
        walked = _walk_pcapng(mv, data, window.start, window.end, section.order)
        read = _packet_batch(data, walked, section, frame, window.base, state)
        if read.batch is not None:
            if not read.problem:  # read the next window while this one is decoded
                window.start = walked.stop
                window.prefetch()
            yield read.batch
        frame += read.frames
        state.records = frame - 1
        if read.problem:
            state.warnings.append(read.problem)
            state.bytes_read = window.base + read.end
            return
        window.start = walked.stop
        state.bytes_read = window.offset
        if window.eof and window.start >= window.end:
            return
        problem = _at_stop(window, mv, section, file_size)
        if problem not in (None, _REFILL):
            state.warnings.append(problem)
            return


def _first_section(window: Window, file_size: int, section: _Section, path: str) -> None:
    """Read the first section header (growing the window for a long one); CaptureFormatError if it is broken."""
    while True:
        window.refill()
        mv = window.mv[: window.end]
        blen = _shb_length(mv, window.start) if window.end - window.start >= 12 else None
        if blen and window.start + blen > window.end and not window.eof and blen <= min(file_size, MAX_BLOCK_IN_WINDOW):
            continue  # a section header longer than the window: grow it
        problem = _control_block(window, mv, section)
        if problem:
            raise damage.CaptureFormatError(f"{path}: not a readable pcapng file: {problem}")
        return


def _walk_pcapng(mv: memoryview, data: np.ndarray, off: int, end: int, order: str) -> _Walked:
    """The packet blocks in mv[off:end] and their frames; the walk stops before a block that changes state
    (SHB, IDB) or is damaged (a bad length; a trailer that disagrees, or a frame block shorter than tshark
    accepts, in a block that is no packet: packet blocks are checked by _packet_batch)."""
    at, stop = walk(mv, off, end, 4, 0, order, PCAPNG_MIN_BLOCK)
    head = gather(data, at, 8).view(order + "u4")
    btype, blen = head[:, 0].astype(np.int64), head[:, 1].astype(np.int64)
    trailer = gather(data, np.maximum(at + blen - 4, 0), 4).view(order + "u4")[:, 0]
    is_packet = np.isin(btype, PCAPNG_PACKET_BLOCKS)
    is_other = np.isin(btype, _OTHER_FRAMES)
    stop_here = (blen < 12) | (blen % 4 != 0) | (btype == PCAPNG_SHB_TYPE) | (btype == PCAPNG_IDB) \
        | (~is_packet & (trailer != blen))
    if is_other.any():
        stop_here |= is_other & _too_short(data, at, btype, blen)
    if stop_here.any():
        k = int(np.argmax(stop_here))
        at, is_packet, is_other, stop = at[:k], is_packet[:k], is_other[:k], int(at[k])
    is_frame = is_packet | is_other
    frame_index = np.cumsum(is_frame, dtype=np.int64) - 1
    return _Walked(at[is_packet], frame_index[is_packet], int(is_frame.sum()), stop)


def _too_short(data: np.ndarray, at: np.ndarray, btype: np.ndarray, blen: np.ndarray) -> np.ndarray:
    """Frame blocks without a packet that are shorter than tshark accepts (formats.PCAPNG_FRAMES_WITHOUT_PACKET)."""
    short = np.zeros(len(at), dtype=bool)
    for block_type, spec in PCAPNG_FRAMES_WITHOUT_PACKET.items():
        short |= (btype == block_type) & (blen < spec.min_total_len)
    for k in np.flatnonzero((btype == PCAPNG_SYSTEMD_JOURNAL) & ~short & (blen >= 12)).tolist():  # rare: one by one
        entry = data[int(at[k]) + 8 : int(at[k] + blen[k]) - 4].tobytes()
        short[k] = len(entry.rstrip(b"\0")) < SYSTEMD_JOURNAL_MIN_ENTRY
    return short


def _at_stop(window: Window, mv: memoryview, section: _Section, file_size: int) -> str | None:
    """The walk stopped at window.start on a block it does not take: handle it.

    None: it was a section or interface header, read; go on. _REFILL: the
    block is not whole in the window yet (a huge block of no interest is
    skipped). Anything else: the damage, in words.
    """
    stop, end, where = window.start, window.end, window.offset
    if stop + 8 > end:
        return damage.bad_block(where, "block header cut short") if window.eof else _REFILL
    btype, blen = struct.unpack_from(section.order + "II", mv, stop)
    if btype == PCAPNG_SHB_TYPE:  # its length is in the byte order of its byte-order magic, 4 bytes further on
        if stop + 12 > end:
            return damage.bad_block(where, "section header cut short") if window.eof else _REFILL
        blen = _shb_length(mv, stop)
        if blen is None:
            return _control_block(window, mv, section)  # says what is wrong with the magic
    if blen < 12 or blen % 4:
        return damage.bad_block(where, f"block length {blen}")
    if stop + blen > end:
        if where + blen > file_size:
            return damage.record_cut_short(where, file_size - where, blen)
        if blen > MAX_BLOCK_IN_WINDOW:  # a huge block: skip it unless we need what is inside
            if btype in _HELD_WHOLE:
                return damage.bad_block(where, f"block length {blen} for a block of type {btype:#x}")
            window.skip_to(where + blen)
        return _REFILL  # the refill keeps this block and grows the window if it does not fit
    if btype not in (PCAPNG_SHB_TYPE, PCAPNG_IDB):  # the walk stopped on a whole block
        if btype in PCAPNG_FRAMES_WITHOUT_PACKET and struct.unpack_from(section.order + "I", mv, stop + blen - 4)[0] == blen:
            return damage.bad_block(where, f"{PCAPNG_FRAMES_WITHOUT_PACKET[btype].name} too short ({blen} bytes)")
        return damage.bad_block(where, "trailer length mismatch")
    return _control_block(window, mv, section)


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


class _Fields(NamedTuple):
    """The header fields of a window's packet blocks (EPB, SPB and OPB lay them out differently)."""

    blen: np.ndarray
    is_spb: np.ndarray
    iface: np.ndarray
    caplen: np.ndarray
    origlen: np.ndarray
    ticks: np.ndarray  # uint64
    data_off: np.ndarray


def _packet_fields(data: np.ndarray, off: np.ndarray, section: _Section) -> _Fields:
    words = gather(data, off, 28).view(section.order + "u4")  # type, len, then 5 body words (EPB/OPB)
    btype, blen = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
    is_spb, is_opb = btype == PCAPNG_SPB, btype == PCAPNG_OPB
    iface = words[:, 2].astype(np.int64)
    if is_opb.any():
        iface[is_opb] = gather(data, off[is_opb] + 8, 2).view(section.order + "u2")[:, 0]
    iface[is_spb] = 0
    caplen = words[:, 5].astype(np.int64)
    origlen = words[:, 6].astype(np.int64)
    origlen[is_spb] = words[is_spb, 2]
    ticks = (words[:, 3].astype(np.uint64) << np.uint64(32)) | words[:, 4].astype(np.uint64)
    data_off = off + 28
    data_off[is_spb] = off[is_spb] + 12
    snap0 = section.interfaces[0].snaplen if section.interfaces else 0
    spb_count = int(is_spb.sum())
    caplen[is_spb] = np.minimum.reduce([origlen[is_spb], blen[is_spb] - 16, np.full(spb_count, snap0 or MAX_CAPLEN),
                                        np.full(spb_count, MAX_CAPLEN)])
    return _Fields(blen, is_spb, iface, caplen, origlen, ticks, data_off)


def _first_damaged(data: np.ndarray, off: np.ndarray, fields: _Fields, section: _Section, base: int) -> tuple[int, str | None]:
    """(how many packet blocks come before the first damaged one, what is wrong with that one, or None)."""
    blen, is_spb, iface, caplen = fields.blen, fields.is_spb, fields.iface, fields.caplen
    n_ifaces = len(section.interfaces)
    short = np.where(is_spb, blen < 16, blen < 32)
    bad_trailer = gather(data, off + blen - 4, 4).view(section.order + "u4")[:, 0] != blen
    bad_iface = iface >= n_ifaces
    too_big = caplen > MAX_CAPLEN
    overrun = ~is_spb & (caplen > blen - 32)
    bad = short | bad_iface | too_big | overrun | bad_trailer
    if not bad.any():
        return len(off), None
    k = int(np.flatnonzero(bad)[0])
    where = base + int(off[k])
    # the first that holds, in the order the scapy engine checks a block (and words it: damage.py)
    checks = ((bad_trailer, lambda: damage.bad_block(where, "trailer length mismatch")),
              (short, lambda: damage.packet_block_too_short(where)),
              (too_big, lambda: damage.record_too_big(where, int(caplen[k]))),
              (overrun, lambda: damage.captured_length_past_block(where, int(caplen[k]))),
              (bad_iface, lambda: damage.unknown_interface(where, int(iface[k]), n_ifaces)))
    return k, next(problem() for holds, problem in checks if holds[k])


def _timestamps(fields: _Fields, section: _Section, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ts_ns, whether int64 holds it, link type) of the first n packet blocks, each by its interface's clock."""
    iface, ticks = fields.iface[:n], fields.ticks[:n]
    ts_ns = np.zeros(n, dtype=np.int64)
    fits = np.ones(n, dtype=bool)
    linktype = np.zeros(n, dtype=np.int32)
    for i in np.unique(iface).tolist():
        m = iface == i
        itf = section.interfaces[i]
        ts_ns[m], fits[m] = itf.resol.ticks_to_ns(ticks[m], itf.offset_ns)
        linktype[m] = itf.linktype
    spb = fields.is_spb[:n]
    ts_ns[spb], fits[spb] = 0, True  # a Simple Packet Block has no timestamp
    return ts_ns, fits, linktype


class _Read(NamedTuple):
    batch: RecordBatch | None
    problem: str | None  # the damage that ends the reading, in words
    frames: int  # frames read (up to the damage)
    end: int  # where the damaged block starts in the window (when there is a problem)


def _packet_batch(data: np.ndarray, walked: _Walked, section: _Section, frame: int, base: int, state: ScanState) -> _Read:
    """The walked packet blocks as a RecordBatch (frame: the walk's first frame), cut at the first damaged one."""
    off = walked.offsets
    if not len(off):
        state.frames_without_packet += walked.frames
        return _Read(None, None, walked.frames, 0)
    fields = _packet_fields(data, off, section)
    n, problem = _first_damaged(data, off, fields, section, base)
    frames_read = walked.frames if problem is None else int(walked.frame_index[n])
    state.frames_without_packet += frames_read - n
    ts_ns, fits, linktype = _timestamps(fields, section, n)
    frame_numbers = frame + walked.frame_index[:n]
    if not fits.all():
        if not state.unrepresentable_ts_count:
            state.unrepresentable_ts_first_frame = int(frame_numbers[np.argmin(fits)])
        state.unrepresentable_ts_count += int((~fits).sum())
    keep = np.flatnonzero(fits) if not fits.all() else slice(0, n)
    frame_numbers = frame_numbers[keep]
    end = int(off[n]) if problem else 0
    if not len(frame_numbers):
        return _Read(None, problem, frames_read, end)
    batch = RecordBatch(
        data=data,
        first_frame=int(frame_numbers[0]),
        data_off=fields.data_off[:n][keep],
        caplen=fields.caplen[:n][keep],
        origlen=fields.origlen[:n][keep],
        ts_ns=ts_ns[keep],
        iface=fields.iface[:n][keep].astype(np.int32),  # the id inside its section, as tshark 4.0 prints frame.interface_id
        linktype=linktype[keep],
        frames=None if frame_numbers[-1] - frame_numbers[0] == len(frame_numbers) - 1 else frame_numbers,
    )
    return _Read(batch, problem, frames_read, end)
