"""Record boundaries and record headers, streamed through a fixed-size window.

The file goes through a window of CHUNK_BYTES (window.py: big files mapped
a window at a time, others copied, the next window read ahead). Each
header says where the next record starts, so the walk over record headers
is a sequential loop (walk.py, in C when built). For classic pcap the walk
reads the header fields as it goes (walk_pcap: one call per window, here);
for pcapng it collects block offsets and the fields are then gathered for
all blocks of the window at once with numpy (scan_pcapng.py).
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
from .formats import MAX_CAPLEN, PCAP_FILE_HEADER, PCAP_MAGICS, dtype, size
from .walk import PCAP_RECORD_LEN, walk_pcap
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
    #: int64 frame number of each record when they are not first_frame, first_frame + 1, ... (pcapng: blocks
    #: tshark numbers as frames without a packet in them, records left out for their timestamp); None when they are
    frames: np.ndarray | None = None


@dataclass
class ScanState:
    """What the scan learned besides the records (goes into the ReadReport)."""

    warnings: list[str] = field(default_factory=list)
    bad_ts_count: int = 0
    bad_ts_first_frame: int = 0
    bytes_read: int = 0
    records: int = 0  # frames, as tshark numbers them
    frames_without_packet: int = 0  # pcapng blocks tshark numbers as frames that hold no packet (formats.py)
    unrepresentable_ts_count: int = 0  # records left out: a timestamp int64 ns cannot hold (formats.py)
    unrepresentable_ts_first_frame: int = 0


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
        header_whole = stop + PCAP_RECORD_LEN <= window.end
        claimed = struct.unpack_from(variant.order + "I", mv, stop + 8)[0] if header_whole else 0
        if claimed > MAX_CAPLEN:
            problem = damage.record_too_big(window.base + stop, claimed)
        elif window.eof and stop < window.end:  # a header cut short needs its 16 bytes first
            problem = damage.record_cut_short(window.base + stop, window.end - stop, PCAP_RECORD_LEN + claimed)
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
