"""Copy a capture into a pcapng file: every packet byte for byte, comments on some, only some when asked.

- A classic pcap file becomes one little-endian section: a section header, one interface description
  (the file's link type and snaplen; ``if_tsresol`` 9 for a nanosecond file, so no digit of a timestamp
  is lost), then an Enhanced Packet Block per record with the record's timestamp in the file's own
  unit, its captured and original lengths, and its bytes.
- A pcapng file keeps every block as it is (interfaces, statistics, name resolution, blocks we do not
  know), in order and byte order, except the section headers (which say what made the file) and the
  packet blocks that get comments (the same block with opt_comment options added after its own).
  Runs of untouched blocks are single pieces of the input.

A packet block that cannot hold options (a Simple Packet Block) keeps no comment; the report counts them.
An extract keeps every block but the packets it leaves out, so its interface statistics, if any, still
count the whole capture's packets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from analysis.pcap import damage
from analysis.pcap.formats import PCAP_MAGICS, PCAPNG_EPB, PCAPNG_OPB, PCAPNG_SHB_MAGIC, PCAPNG_SHB_TYPE
from analysis.pcap.records import BlockWindow, PcapFile, PcapWindow, pcap_windows, pcapng_windows
from analysis.pcap.scan import CHUNK_BYTES, gather
from analysis.pcapng import blocks
from analysis.pcapng.blocks import CAPLEN_AT, EPB_HEADER_LEN, GLUE_HEADER_AT, OPTIONS_AT, TRAILER_LEN, Option, padding
from analysis.pcapng.gather import Pieces, write

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Annotations:
    """What the copy adds and keeps: ``texts[bounds[i]:bounds[i + 1]]`` are the comments of ``frames[i]``."""

    frames: np.ndarray  # int64, sorted, each once: the frames that get comments
    bounds: np.ndarray  # int64, len(frames) + 1
    texts: pa.Array  # strings
    keep: np.ndarray | None = None  # bool by frame number (index 0 unused): the frames to copy; None: all
    section: tuple[str, ...] = ()  # comments for the section header(s)
    application: str = "abortscope"  # shb_userappl
    _encoded: dict = field(default_factory=dict, compare=False, repr=False)

    def kept(self, frames: np.ndarray) -> np.ndarray:
        """Which of ``frames`` are copied (frames past the end of ``keep`` are not)."""
        if self.keep is None:
            return np.ones(len(frames), dtype=bool)
        inside = frames < len(self.keep)
        return inside & self.keep[np.where(inside, frames, 0)]

    def of(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``frames`` (sorted) that have comments, and each one's index in ``self.frames``."""
        lo, hi = np.searchsorted(self.frames, [frames[0], frames[-1] + 1]) if len(frames) else (0, 0)
        wanted = self.frames[lo:hi]
        at = np.searchsorted(frames, wanted)
        found = (at < len(frames)) & (frames[np.minimum(at, len(frames) - 1)] == wanted)
        return at[found], lo + np.flatnonzero(found)

    def texts_of(self, i: int) -> list[str]:
        return self.texts[self.bounds[i] : self.bounds[i + 1]].to_pylist()

    def counts(self, indices: np.ndarray) -> int:
        return int((self.bounds[indices + 1] - self.bounds[indices]).sum())

    def options(self, order: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every frame's comments as options in ``order``: (buffer, start and length per frame), made once."""
        if order not in self._encoded:
            self._encoded[order] = blocks.comment_options(self.texts, self.bounds, order)
        return self._encoded[order]


@dataclass
class CopyReport:
    frames_read: int = 0
    frames_written: int = 0
    comments_written: int = 0
    frames_left_uncommented: int = 0  # packet blocks that cannot hold options
    bytes_written: int = 0
    warnings: list[str] = field(default_factory=list)
    first_section: tuple[bytes | None, str] | None = None  # the first section header as read (None: made) and its order


@dataclass
class _Copy:
    """One copy under way: what it adds, what it has done, and the section header's final comments."""

    annotations: Annotations
    report: CopyReport
    section: Callable[[], tuple[str, ...]] | None = None
    final: Annotations | None = None

    def for_section(self) -> Annotations:
        """The annotations for a section header: the stand-ins for the file's first (it is written again at
        the end), the final ones for any later section (waiting for them)."""
        if self.section is None or self.report.first_section is None:
            return self.annotations
        if self.final is None:
            self.final = replace(self.annotations, section=self.section())
        return self.final


def copy_annotated(capture: Path, fd: int, annotations: Annotations, progress: Progress | None = None,
                   chunk_bytes: int = CHUNK_BYTES, section: Callable[[], tuple[str, ...]] | None = None) -> CopyReport:
    """Write ``capture`` to ``fd`` as pcapng with ``annotations``; what was written.

    ``section``: the section header's comments, when they are known only once the copy is done (a digest
    still under way). ``annotations.section`` then holds stand-ins of the same length, and the first section
    header, at the start of ``fd`` (which must be seekable), is written again with these at the end.
    """
    report = CopyReport()
    copying = _Copy(annotations, report, section)
    total = capture.stat().st_size
    with open(capture, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head in PCAP_MAGICS:
            header, windows = pcap_windows(f, report.warnings, chunk_bytes)
            report.first_section = (None, "<")
            report.bytes_written += _write_all(fd, _pcap_head(header, annotations))
            copy_window = _pcap_window
        elif head == PCAPNG_SHB_MAGIC:
            windows, copy_window = pcapng_windows(f, report.warnings, chunk_bytes), _block_window
        else:
            raise damage.not_a_capture(capture, head)
        with ThreadPoolExecutor(1, thread_name_prefix="pcapng-write") as writer:
            writing = None  # the previous window's write, under way while this one is walked and laid out
            for window in windows:
                pieces = copy_window(window, copying)
                if writing is not None:
                    report.bytes_written += writing.result()
                writing = writer.submit(write, fd, pieces)
                if not window.lasting:  # its buffer is reused for the next window: wait
                    report.bytes_written += writing.result()
                    writing = None
                if progress is not None:
                    progress(min(window.base + len(window.data), total), total)
            if writing is not None:
                report.bytes_written += writing.result()
    if section is not None:
        final = replace(annotations, section=section())
        header = _section_header(final, *report.first_section)
        if len(header) != len(_section_header(annotations, *report.first_section)):
            raise ValueError("the section header's stand-in comments are not as long as the final ones")
        os.pwrite(fd, header, 0)
    return report


def _section_header(annotations: Annotations, original: bytes | None, order: str) -> bytes:
    """A section header saying what made the file: ``original`` (as read) with its options amended, or a new one."""
    if original is None:
        return blocks.section_header(_section_options(annotations, ()), order)
    existing = blocks.options_of(original, order) or []
    first_writer = [v.decode(errors="replace") for code, v in existing if code == Option.SHB_USERAPPL]
    options = _section_options(annotations, first_writer)
    return blocks.amended(original, order, dict(options[:1]), options[1:]) or original


def _write_all(fd: int, data: bytes) -> int:
    pieces = Pieces()
    pieces.add(pieces.buffer(data), 0, len(data))
    return write(fd, pieces)


# -- classic pcap -------------------------------------------------------------------------------------------


#: The pcap link-type field's high bits (draft-ietf-opsawg-pcap 4, libpcap's LT_FCS_*): whether the FCS length
#: is known, and that length in 16-bit words; pcapng's if_fcslen says it in bits.
FCS_KNOWN, FCS_WORDS_AT, LINKTYPE_BITS = 0x04000000, 28, 0xFFFF


def _pcap_head(header: PcapFile, annotations: Annotations) -> bytes:
    """The section header and the one interface a classic pcap file becomes: its link type and snaplen, the
    timestamp unit when it is not the default microsecond, the FCS length when the file says it."""
    section = _section_header(annotations, None, "<")
    options = [(Option.IF_TSRESOL, bytes([9]))] if header.variant.ns_per_tick == 1 else []
    if header.linktype & FCS_KNOWN:
        options.append((Option.IF_FCSLEN, bytes([16 * (header.linktype >> FCS_WORDS_AT)])))
    return section + blocks.interface(header.linktype & LINKTYPE_BITS, header.snaplen, options)


def _pcap_window(window: PcapWindow, copying: _Copy) -> Pieces:
    """A window's records as Enhanced Packet Blocks: per record its bytes (from the window) and a glue row; a
    record with comments has its options (from the annotations' buffer) between its padding and its trailer."""
    annotations, report = copying.annotations, copying.report
    frames = window.first_frame + np.arange(len(window.caplen))
    report.frames_read += len(frames)
    kept = np.flatnonzero(annotations.kept(frames))
    count = len(kept)
    report.frames_written += count
    caplen, ticks = window.caplen[kept], window.ticks[kept]
    pad = padding(caplen)
    commented, indices = annotations.of(frames[kept])
    report.comments_written += annotations.counts(indices)
    options, options_start, options_length = annotations.options("<")
    options_len = np.zeros(count, dtype=np.int64)
    options_len[commented] = options_length[indices]
    total = EPB_HEADER_LEN + caplen + pad + options_len + TRAILER_LEN
    glue = blocks.glue_rows(count + 1)
    glue["trailer"][1:] = total
    for name, values in (("type", PCAPNG_EPB), ("total_len", total), ("ts_high", ticks >> np.uint64(32)),
                         ("ts_low", ticks & np.uint64(0xFFFFFFFF)), ("caplen", caplen),
                         ("origlen", window.origlen[kept])):
        glue[name][:count] = values
    row, k = glue.itemsize, np.arange(count)
    after = (k + 1) * row + GLUE_HEADER_AT - TRAILER_LEN  # where the trailer after record k is in the glue
    next_header = np.where(k + 1 < count, EPB_HEADER_LEN, 0)
    pieces = _Ordered()
    glue_at, data_at = pieces.buffer(glue.view(np.uint8)), pieces.buffer(window.data)
    pieces.add(-1, glue_at, GLUE_HEADER_AT, EPB_HEADER_LEN if count else 0)
    pieces.add(4 * k, data_at, window.data_off[kept], caplen)
    plain = np.ones(count, dtype=bool)
    plain[commented] = False
    pieces.add(4 * k[plain] + 1, glue_at, (after - pad)[plain], (pad + TRAILER_LEN + next_header)[plain])
    c = commented  # padding, options, then the trailer and the next record's header
    pieces.add(4 * c + 1, glue_at, after[c] - pad[c], pad[c])
    pieces.add(4 * c + 2, pieces.buffer(options), options_start[indices], options_length[indices])
    pieces.add(4 * c + 3, glue_at, after[c], TRAILER_LEN + next_header[c])
    return pieces.in_order()


class _Ordered(Pieces):
    """Pieces added in any order, each with a key; :meth:`in_order` sorts them by it."""

    def __init__(self):
        super().__init__()
        self.keys: list[np.ndarray] = []

    def add(self, key, which, start, length) -> None:
        super().add(which, start, length)
        self.keys.append(np.broadcast_to(np.asarray(key, dtype=np.int64), self.start[-1].shape))

    def in_order(self) -> Pieces:
        order = np.argsort(np.concatenate(self.keys), kind="stable") if self.keys else np.zeros(0, np.int64)
        which, start, length = (np.concatenate(parts)[order] for parts in (self.which, self.start, self.length))
        out = Pieces(buffers=self.buffers)
        out.add(which, start, length)
        return out


# -- pcapng ----------------------------------------------------------------------------------------------------


def _block_window(window: BlockWindow, copying: _Copy) -> Pieces:
    """A window's blocks, as they are, but for section headers, commented packet blocks and dropped packets.

    A commented packet block without options of its own gets its comments as pieces (new header, its body
    from the window, the options, new trailer); one with options, and a section header, is made anew.
    """
    annotations, report = copying.annotations, copying.report
    is_packet = window.is_packet
    frame = window.first_frame + np.cumsum(is_packet) - 1
    report.frames_read += int(is_packet.sum())
    keep = ~is_packet | annotations.kept(frame)
    report.frames_written += int((keep & is_packet).sum())
    packets = np.flatnonzero(is_packet & keep)
    commented, indices = annotations.of(frame[packets])
    blocks_at = packets[commented]
    bare = _without_options(window, blocks_at)
    pieces = _Ordered()
    data_at = pieces.buffer(window.data)
    plain = keep.copy()
    plain[blocks_at] = False
    plain[window.type == PCAPNG_SHB_TYPE] = False
    at = np.flatnonzero(plain)
    pieces.add(4 * at, data_at, window.start[at], window.length[at])
    if bare.any():
        _commented_as_pieces(pieces, data_at, window, blocks_at[bare], indices[bare], annotations)
        report.comments_written += annotations.counts(indices[bare])
    remade = {int(k): annotations.texts_of(int(i)) for k, i in zip(blocks_at[~bare], indices[~bare])}
    remade.update({int(k): None for k in np.flatnonzero(window.type == PCAPNG_SHB_TYPE)})
    if remade:
        new = [_rewritten(window, k, copying, texts) for k, texts in remade.items()]
        keys = np.fromiter(remade, dtype=np.int64, count=len(remade))
        pieces.add(4 * keys, pieces.buffer(b"".join(new)), np.cumsum([0] + [len(n) for n in new[:-1]]),
                   [len(n) for n in new])
    return _joined(pieces.in_order(), data_at)


def _without_options(window: BlockWindow, at: np.ndarray) -> np.ndarray:
    """Which of the packet blocks ``at`` can take comments as pieces: EPBs and OPBs with no options of their own."""
    if not len(at):
        return np.zeros(0, dtype=bool)
    caplen = gather(window.data, at + CAPLEN_AT, 4).view(window.order + "u4")[:, 0].astype(np.int64)
    return np.isin(window.type[at], (PCAPNG_EPB, PCAPNG_OPB)) & (
        window.length[at] == EPB_HEADER_LEN + caplen + padding(caplen) + TRAILER_LEN)


def _commented_as_pieces(pieces: _Ordered, data_at: int, window: BlockWindow, at: np.ndarray, indices: np.ndarray,
                         annotations: Annotations) -> None:
    """Packet blocks ``at`` with their comments: a new header, the body as the window has it, the options, a
    new trailer."""
    options, options_start, options_length = annotations.options(window.order)
    total = window.length[at] + options_length[indices]
    heads = np.zeros((len(at), 3), dtype=window.order + "u4")  # type, total length; then the trailer
    heads[:, 0], heads[:, 1], heads[:, 2] = window.type[at], total, total
    heads_at, row = pieces.buffer(heads.view(np.uint8).reshape(-1)), 12
    rows = np.arange(len(at)) * row
    pieces.add(4 * at, heads_at, rows, 8)
    pieces.add(4 * at + 1, data_at, window.start[at] + 8, window.length[at] - 8 - TRAILER_LEN)
    pieces.add(4 * at + 2, pieces.buffer(options), options_start[indices], options_length[indices])
    pieces.add(4 * at + 3, heads_at, rows + 8, TRAILER_LEN)


def _joined(pieces: Pieces, data_at: int) -> Pieces:
    """Neighbouring pieces of the window that lie one after the other in it become one."""
    which, start, length = pieces.arrays()
    breaks = np.ones(len(start), dtype=bool)
    breaks[1:] = (which[1:] != data_at) | (which[:-1] != data_at) | (start[1:] != start[:-1] + length[:-1])
    first = np.flatnonzero(breaks)
    out = Pieces(buffers=pieces.buffers)
    out.add(which[first], start[first], np.add.reduceat(length, first) if len(first) else length[:0])
    return out


def _rewritten(window: BlockWindow, k: int, copying: _Copy, texts: list[str] | None) -> bytes:
    """Block ``k`` of the window made anew: a section header's, or a packet block's with its own options."""
    original = window.data[window.start[k] : window.start[k] + window.length[k]].tobytes()
    btype, report = int(window.type[k]), copying.report
    if texts is None:
        annotations = copying.for_section()
        report.first_section = report.first_section or (original, window.order)
        amended = _section_header(annotations, original, window.order)
    elif btype in OPTIONS_AT:
        amended = blocks.amended(original, window.order, {}, [(Option.COMMENT, blocks.comment_value(t)) for t in texts])
        report.comments_written += len(texts) if amended is not None else 0
    else:
        amended = None
    if amended is None and texts is not None:
        report.frames_left_uncommented += 1
    return original if amended is None else amended


def _section_options(annotations: Annotations, first_writer: list[str]) -> list[tuple[int, bytes]]:
    """The section header's options: the application first (it replaces the section's), then the comments."""
    said = [*annotations.section, *(f"The capture was first written by: {name}." for name in first_writer)]
    return [(Option.SHB_USERAPPL, annotations.application.encode()),
            *((Option.COMMENT, blocks.comment_value(text)) for text in said)]
