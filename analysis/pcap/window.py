"""The window a capture file streams through: fixed-size buffers, the next one read ahead on a second thread.

No mmap: the resident set stays bounded whatever the file size, and a file
that shrinks while it is read cannot crash the process (SIGBUS).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np

#: Bytes past the valid end of every buffer: fixed-width gathers near the end stay in bounds.
SLACK = 64


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
