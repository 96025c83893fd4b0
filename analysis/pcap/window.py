"""The window a capture file streams through, a fixed size at a time: open_window() picks one of two kinds.

- MappedWindow maps the file a window at a time (mmap): nothing is copied
  from the page cache (0.3 s a 1.8 GB file, a core's worth of work), and
  only one window is mapped at a time, so the resident set stays bounded.
  The kernel is asked to read the next window ahead (posix_fadvise).
  A file that shrinks while it is read (another program truncates it)
  cannot crash the process: csrc/bus_guard.c turns the SIGBUS into
  zeros, and the next window sees the new size and says so.
- Window copies into two fixed buffers with readinto(), the next one read
  ahead on a second thread: for small files, for anything that is not a
  regular file, and when the C module is not built (no bus guard).
"""

from __future__ import annotations

import mmap
import os
import stat as file_modes
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np

try:
    from ._native import bus_guard, bus_unguard
except ImportError:  # not built: no guard, so no mapping
    bus_guard = bus_unguard = None

#: Bytes past the valid end of every buffer: fixed-width gathers near the end stay in bounds.
SLACK = 64


#: MappedWindow.prefetch asks the kernel to read this many windows ahead at a time.
ADVISE_WINDOWS = 4
#: Map files of at least this many windows (smaller ones gain nothing). Tests switch mapping off with MAP_FILES.
MAP_MIN_WINDOWS = 4
MAP_FILES = True


def open_window(f: BinaryIO, chunk_bytes: int) -> Window | MappedWindow:
    """A MappedWindow for a big regular file when the bus guard is built, else a Window."""
    try:
        status = os.fstat(f.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (BytesIO)
        status = None
    if MAP_FILES and bus_guard is not None and status is not None and file_modes.S_ISREG(status.st_mode) \
            and status.st_size >= MAP_MIN_WINDOWS * chunk_bytes:
        return MappedWindow(f, chunk_bytes, status.st_size)
    return Window(f, chunk_bytes)


class Window:
    """A sliding window over the file; a refill keeps the unread tail.

    Two buffers take turns: while the caller decodes one window, prefetch()
    reads the next into the other on a second thread (readinto releases the
    GIL), so the copy from the page cache overlaps the decoding.
    """

    def __init__(self, f: BinaryIO, chunk_bytes: int):
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.buf = bytearray(chunk_bytes + SLACK)  # slack: fixed-width gathers near the end stay in bounds
        self.mv = memoryview(self.buf)
        self.base = 0  # file offset of buf[0]
        self.start = 0  # first unread byte in buf
        self.end = 0  # end of valid bytes in buf
        self.eof = False
        self._spare: bytearray | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._pending: tuple[Future, int] | None = None  # the prefetch, and the window's start when it began
        self.warnings: list[str] = []  # what the window noticed about the file (MappedWindow: it shrank)

    def refill(self) -> None:
        """Keep the unread tail, read more; a window with no room left grows (a record bigger than it)."""
        if self._pending is not None:
            self._take_prefetched()
            return
        tail = self.end - self.start
        if tail >= self.chunk_bytes and not self.eof:
            self.chunk_bytes *= 2
            grown = bytearray(self.chunk_bytes + SLACK)
            grown[:tail] = self.buf[self.start : self.end]
            self.buf, self.mv = grown, memoryview(grown)
        elif self.start:
            self.buf[0:tail] = self.buf[self.start : self.end]
        self.base += self.start
        self.start, self.end = 0, tail
        self.end, self.eof = self._read_into(self.mv, self.end)

    def prefetch(self) -> None:
        """Start reading the next window (the tail from ``start`` on, then the file) into the spare buffer.

        The current buffer is only read from, so the caller may go on using
        it until refill(). Skipped near the end of the file, and when the tail
        is so long that the window may have to grow (refill() handles that).
        """
        tail = self.end - self.start
        if self._pending is not None or self.eof or 2 * tail > self.chunk_bytes:
            return
        if self._spare is None or len(self._spare) != len(self.buf):
            self._spare = bytearray(len(self.buf))
        self._spare[:tail] = self.buf[self.start : self.end]
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="capture-read")
        self._pending = (self._reader.submit(self._read_into, memoryview(self._spare), tail), self.start)

    def _take_prefetched(self) -> None:
        future, started_at = self._pending
        self._pending = None
        end, eof = future.result()
        # the caller may have consumed more of the old window since (pcapng control blocks): skip that too
        consumed_since = self.start - started_at
        self.base += started_at
        self.buf, self._spare = self._spare, self.buf
        self.mv = memoryview(self.buf)
        self.start, self.end, self.eof = consumed_since, end, eof

    def _read_into(self, mv: memoryview, end: int) -> tuple[int, bool]:
        """Read into mv[end:chunk_bytes] until it is full or the file ends; (new end, eof)."""
        while end < self.chunk_bytes:
            n = self.f.readinto(mv[end : self.chunk_bytes])
            if not n:
                return end, True
            end += n
        return end, False

    def skip_to(self, file_offset: int) -> None:
        self._cancel_prefetch()
        self.f.seek(file_offset)
        self.base, self.start, self.end, self.eof = file_offset, 0, 0, False

    def close(self) -> None:
        self._cancel_prefetch()
        if self._reader is not None:
            self._reader.shutdown()

    def _cancel_prefetch(self) -> None:
        if self._pending is not None:
            self._pending[0].exception()  # wait for the read (it owns the file position); its result is dropped
            self._pending = None

    @property
    def offset(self) -> int:
        return self.base + self.start

    def array(self) -> np.ndarray:
        return np.frombuffer(self.buf, dtype=np.uint8)


class MappedWindow:
    """Window's interface over a mapping of the file, one window at a time (see the module's docstring).

    Each refill maps [offset, offset + chunk_bytes + SLACK) afresh (the
    unread tail is simply mapped again) and unmaps the window before. The
    stretch at the end of the file, where a mapping would run past it, is
    read into a buffer instead.
    """

    def __init__(self, f: BinaryIO, chunk_bytes: int, file_size: int):
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.size = file_size
        self.buf: memoryview | bytearray = bytearray(SLACK)  # the mapping's view, or the copied end of the file
        self.mv = memoryview(self.buf)
        self.base = 0
        self.start = 0
        self.end = 0
        self.eof = False
        self.warnings: list[str] = []
        self._guard: int | None = None
        self._advised_to = 0  # the file is being read into the page cache up to here (prefetch)

    def refill(self) -> None:
        tail = self.end - self.start
        if tail >= self.chunk_bytes and not self.eof:  # a record bigger than the window
            self.chunk_bytes *= 2
        self._unmap()
        self._notice_shrinking()
        self.base += self.start
        self.start = 0
        if self.base + self.chunk_bytes + SLACK <= self.size:
            aligned = self.base - self.base % mmap.ALLOCATIONGRANULARITY
            mapping = mmap.mmap(self.f.fileno(), self.base - aligned + self.chunk_bytes + SLACK,
                                access=mmap.ACCESS_READ, offset=aligned)
            self.buf = self.mv = memoryview(mapping)[self.base - aligned :]
            self._guard = bus_guard(self.mv)
            self.end, self.eof = self.chunk_bytes, False
        else:  # the end of the file: copied, with zeroed slack after it
            data = os.pread(self.f.fileno(), max(self.size - self.base, 0), self.base)
            self.buf = bytearray(len(data) + SLACK)
            self.buf[: len(data)] = data
            self.mv = memoryview(self.buf)
            self.end, self.eof = len(data), True

    def _notice_shrinking(self) -> None:
        now = os.fstat(self.f.fileno()).st_size
        if now < self.size:
            self.warnings.append(f"the file shrank from {self.size} to {now} bytes while it was read (another "
                                 f"program truncated it): what came after byte {now} is missing, and the records "
                                 f"read as it shrank may be counted wrong")
            self.size = now

    def _unmap(self) -> None:
        if self._guard is not None:
            hits = bus_unguard(self._guard)
            self._guard = None
            if hits:
                self._notice_shrinking()
        self.buf = self.mv = memoryview(bytearray(SLACK))  # the mapping goes when the last view of it does

    def prefetch(self) -> None:
        """Ask the kernel to start reading the next windows into the page cache (they are mapped as they come).

        A file that is not cached (a capture copied from elsewhere, or evicted
        since) would otherwise be read a fault at a time, as the walk touches
        it: reading the 1.8 GB benchmark file cold took 1.8 s without this and
        1.1 s with it (medians of 4 alternating runs; this VM's disk spreads
        them from 1.0 to 2.2 s). On a cached file it costs nothing measurable.
        The kernel is asked for ADVISE_WINDOWS windows at a time, so most
        windows make no call: each one lets go of the GIL, and the reading
        thread then waits to get it back while pandas imports beside it.
        """
        next_window = self.base + self.start
        if next_window + self.chunk_bytes + SLACK > self._advised_to:
            self._advised_to = next_window + ADVISE_WINDOWS * self.chunk_bytes
            os.posix_fadvise(self.f.fileno(), next_window, self._advised_to - next_window, os.POSIX_FADV_WILLNEED)

    def skip_to(self, file_offset: int) -> None:
        self._unmap()
        self.base, self.start, self.end, self.eof = file_offset, 0, 0, False

    def close(self) -> None:
        self._unmap()

    @property
    def offset(self) -> int:
        return self.base + self.start

    def array(self) -> np.ndarray:
        return np.frombuffer(self.buf, dtype=np.uint8)
