"""Freed heap pages handed back to the system: the reading shell's, never the pure core's.

glibc keeps the pages of freed blocks in its arenas; after the analysis is let
go of (hundreds of MB of columns), a step that streams on (annotate's copy)
would otherwise peak with them still resident. ``malloc_trim(0)`` returns
them. Looked up on first use (nothing happens at import); a libc without it
(musl) makes this a no-op.
"""

from __future__ import annotations

import functools


@functools.cache
def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Hand the heap pages freed so far back to the system (glibc), so that the next step peaks lower."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
