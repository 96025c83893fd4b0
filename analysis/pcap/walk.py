"""Record boundaries: follow the length in each record (or block) header.

This is the only step of reading that cannot be vectorised: each header
says where the next one starts. ``_native.c`` does it in C (built by
``pip install``, see setup.py); :func:`walk_python` is the same loop in
Python, used when the C module is missing (no compiler at install time)
and as the reference the tests hold the C module to.
"""

from __future__ import annotations

import struct

import numpy as np

try:
    from ._native import walk as _walk_c
except ImportError:  # not built: the Python loop, about 0.35 s per million records slower
    _walk_c = None

#: True when the C walk is in use.
ACCELERATED = _walk_c is not None


def walk_python(buf, out: np.ndarray, off: int, end: int, len_at: int, len_add: int, big_endian: bool) -> tuple[int, int]:
    """_native.c's walk(): store record offsets in ``out`` from ``off``; (count, where the walk stopped).

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
