"""Record boundaries: follow the length in each record (or block) header.

This is the only step of reading that cannot be vectorised: each header
says where the next one starts. ``csrc/walk.c`` does it in C (built by
``pip install``, see setup.py); :func:`walk_python` is the same loop in
Python, used when the C module is missing (no compiler at install time)
and as the reference the tests hold the C module to. For classic pcap,
:func:`walk_pcap` also reads each record header's fields on the way (its
reference: :func:`walk_pcap_python`).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .formats import PCAP_RECORD_HEADER, dtype, size

try:
    from ._native import walk as _walk_c, walk_pcap as _walk_pcap_c
except ImportError:  # not built: the Python loop, about 0.35 s per million records slower
    _walk_c = _walk_pcap_c = None

PCAP_RECORD_LEN = size(PCAP_RECORD_HEADER)

#: True when the C walk is in use.
ACCELERATED = _walk_c is not None


def walk_python(buf, out: np.ndarray, off: int, end: int, len_at: int, len_add: int, big_endian: bool) -> tuple[int, int]:
    """csrc/walk.c's walk(): store record offsets in ``out`` from ``off``; (count, where the walk stopped).

    A record at ``off`` is taken when the 32-bit length at ``off + len_at``
    lies before ``end`` and ``next = off + len_add + length`` satisfies
    ``off < next <= end`` (the record is whole and the length is sane).
    """
    unpack = struct.Struct((">" if big_endian else "<") + "I").unpack_from
    mv = memoryview(buf)
    end = min(end, len(mv))
    capacity = len(out)
    offsets: list[int] = []
    append = offsets.append
    count = 0
    while count < capacity and off + len_at + 4 <= end:
        nxt = off + len_add + unpack(mv, off + len_at)[0]
        if not off < nxt <= end:
            break
        append(off)
        count += 1
        off = nxt
    out[:count] = offsets
    return count, off


def walk(buf, off: int, end: int, len_at: int, len_add: int, order: str, min_record: int) -> tuple[np.ndarray, int]:
    """Offsets (int64) of the whole records in ``buf[off:end]``, and where the walk stopped.

    ``min_record`` (the smallest possible record) sizes the output so that
    one call always walks as far as the records go.
    """
    out = np.empty(max(end - off, 0) // min_record + 1, dtype=np.int64)
    count, stop = (_walk_c or walk_python)(buf, out, off, end, len_at, len_add, order == ">")
    return out[:count], stop


class PcapRecords(NamedTuple):
    """The whole pcap records of a window (walk_pcap): where each one's bytes start, and its header's fields."""

    data_off: np.ndarray  # int64, into the window's buffer
    caplen: np.ndarray  # int64
    origlen: np.ndarray  # int64
    ts_ns: np.ndarray  # int64: ts_sec * 1e9 + ts_frac * ns_per_tick
    stop: int  # where the walk stopped: a record not whole in the window, or one over max_caplen
    bad_ts: int  # records whose fraction is a second or more
    first_bad_ts: int  # the first one's index, -1 when none


def walk_pcap(buf, off: int, end: int, order: str, ns_per_tick: int, max_caplen: int) -> PcapRecords:
    """Classic pcap's records in ``buf[off:end]``, walked and their headers read in one pass (csrc/walk.c's walk_pcap).

    Records are taken while they lie whole before ``end`` and their caplen is
    at most ``max_caplen``; a bigger one stops the walk (damage, which the
    caller reports at ``stop``).
    """
    if _walk_pcap_c is None:
        return walk_pcap_python(buf, off, end, order, ns_per_tick, max_caplen)
    capacity = max(end - off, 0) // PCAP_RECORD_LEN + 1
    columns = [np.empty(capacity, dtype=np.int64) for _ in range(4)]
    count, stop, bad_ts, first_bad_ts = _walk_pcap_c(buf, off, end, order == ">", ns_per_tick, max_caplen, *columns)
    return PcapRecords(*(column[:count] for column in columns), stop, bad_ts, first_bad_ts)


def walk_pcap_python(buf, off: int, end: int, order: str, ns_per_tick: int, max_caplen: int) -> PcapRecords:
    """walk_pcap with walk_python and numpy: the reference, and the fallback when the C part is not built."""
    offsets = np.empty(max(end - off, 0) // PCAP_RECORD_LEN + 1, dtype=np.int64)
    count, stop = walk_python(buf, offsets, off, end, 8, PCAP_RECORD_LEN, order == ">")
    offsets = offsets[:count]
    record_header = dtype(PCAP_RECORD_HEADER, order)
    if not count:  # (and buf may be shorter than a header)
        header = np.zeros(0, dtype=record_header)
    else:
        data = np.frombuffer(buf, dtype=np.uint8)
        header = sliding_window_view(data, PCAP_RECORD_LEN)[offsets].view(record_header)[:, 0]
    caplen = header["caplen"].astype(np.int64)
    too_big = np.flatnonzero(caplen > max_caplen)
    if len(too_big):  # the walk went past it: stop there instead
        k = int(too_big[0])
        offsets, header, caplen, stop = offsets[:k], header[:k], caplen[:k], int(offsets[k])
    ticks = header["ts_frac"].astype(np.int64) * ns_per_tick
    bad = np.flatnonzero(ticks >= 10**9)
    return PcapRecords(offsets + PCAP_RECORD_LEN, caplen, header["origlen"].astype(np.int64),
                       header["ts_sec"].astype(np.int64) * 10**9 + ticks, stop, len(bad), int(bad[0]) if len(bad) else -1)
