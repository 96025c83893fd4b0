"""Read a capture set as one packet stream, a batch at a time, on a thread: frames run on, each row knows its file.

    with BatchRead(captures, progress) as read:     # reading starts at once, on a thread
        for batch in read:                          # a Batch: the reader's windows of about batch_rows rows
            ...
    read.report                                     # every file's ReadReport, merged (overlaps included)

The thread composes the fast engine's per-file reads (analysis.pcap.stream:
decoded_batches and compact, window by window) without changing them: it
adds the frames of the earlier files to each window's ``frame`` (frame
numbers run on across the files, counting every record as tshark does), adds
a ``file`` column (the file's index in the set), and checks that each file
starts after the previous one ended (else it says where they overlap). At
most ``depth`` batches wait for the consumer, so memory stays bounded
whatever the size of the capture.

Numpy and C only, no pandas: the command line starts this before importing
pandas (a third of a second it would otherwise spend before the first byte).
``cancel()`` (or leaving the ``with`` block) stops the read at its next window
and waits for the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from analysis.pcap.addresses import AddressBook
from analysis.pcap.stream import ReadStopped, compact, decoded_batches
from analysis.pcap.table import ReadReport
from analysis.stream.files import CaptureSet

Progress = Callable[[int, int], None]
#: rows per batch: the connection pass's unit of work (about 10 MB of columns; the pass works on about 40 MB)
BATCH_ROWS = 1 << 17
#: the reader's window: smaller than its default (analysis.pcap.scan.CHUNK_BYTES), since a window of small
#: packets is a few hundred thousand records whose decoding needs several times its size
WINDOW_BYTES = 8 << 20
_END = object()


@dataclass
class Batch:
    """Windows of the reader (analysis.pcap.stream.compact's columns, plus ``file``), in capture order."""

    parts: list[dict[str, np.ndarray]]
    book: AddressBook  # the addresses' texts (one book for the whole set)

    @property
    def rows(self) -> int:
        return sum(len(p["frame"]) for p in self.parts)


class BatchRead:
    """The capture set's packets, read on a thread into batches of about ``batch_rows`` rows."""

    def __init__(self, captures: CaptureSet, progress: Progress | None = None, batch_rows: int | None = None,
                 chunk_bytes: int | None = None, depth: int = 1, threaded: bool = True):
        batch_rows, chunk_bytes = batch_rows or BATCH_ROWS, chunk_bytes or WINDOW_BYTES  # (tests make them small)
        self.captures = captures
        self.report = ReadReport()
        self.book = AddressBook()
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._arguments = (progress, batch_rows, chunk_bytes)
        self._thread = None
        if threaded:  # else (a batch task: the workers are the parallelism) read in the caller's thread
            self._thread = threading.Thread(target=self._run, args=self._arguments, name="read-ahead", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[Batch]:
        if self._thread is None:
            yield from self._batches(*self._arguments)
            return
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _run(self, progress: Progress | None, batch_rows: int, chunk_bytes: int) -> None:
        try:
            for batch in self._batches(progress, batch_rows, chunk_bytes):
                self._put(batch)
            self._put(_END)
        except ReadStopped:
            pass
        except BaseException as exc:  # handed to the consumer
            try:
                self._put(exc)
            except ReadStopped:
                pass

    def _batches(self, progress: Progress | None, batch_rows: int, chunk_bytes: int) -> Iterator[Batch]:
        total = self.captures.bytes
        done_bytes, frames, previous_end = 0, 0, None
        pending: list[dict[str, np.ndarray]] = []
        for index, capture in enumerate(self.captures.files):
            size = capture.path.stat().st_size
            report = ReadReport()
            tell = None if progress is None else (lambda done, _, base=done_bytes: progress(base + done, total))
            last_ts = None
            for decoded in decoded_batches(capture.path, report, tell, chunk_bytes, self._stop):
                part = _owned(compact(decoded, self.book))
                part["frame"] += frames
                part["file"] = np.full(len(decoded.frame), index, dtype=np.int32)
                if len(decoded.ts_ns):
                    last_ts = max(last_ts or 0, int(decoded.ts_ns.max()))
                pending.append(part)
                while sum(len(p["frame"]) for p in pending) >= batch_rows:
                    batch, pending = self._cut(pending, batch_rows)
                    yield batch
            self._note_overlap(index, previous_end)
            previous_end = last_ts if last_ts is not None else previous_end
            frames += report.records
            done_bytes += size
            merge_report(self.report, report, capture.name if len(self.captures) > 1 else None)
        if pending:
            yield Batch(pending, self.book)

    def _cut(self, pending: list[dict[str, np.ndarray]], rows: int) -> tuple[Batch, list[dict[str, np.ndarray]]]:
        """A batch of exactly ``rows`` rows (the same array sizes batch after batch: the heap reuses their memory
        instead of growing), and what is left over."""
        over = sum(len(p["frame"]) for p in pending) - rows
        rest = []
        if over:
            last = pending.pop()
            head, tail = _split(last, len(last["frame"]) - over)
            pending.append(head)
            rest = [tail]
        return Batch(pending, self.book), rest

    def _note_overlap(self, index: int, previous_end: int | None) -> None:
        """Warn when this file's first record is older than the last TCP packet of the files before it."""
        first = self.captures.files[index].first_ts_ns
        if index and previous_end is not None and first is not None and first < previous_end:
            before, this = self.captures.files[index - 1].name, self.captures.files[index].name
            self.report.warnings.append(
                f"{this} overlaps {before}: it starts {(previous_end - first) / 1e9:.6f} s before {before} ends "
                f"(both are read whole, in that order; a connection in both is one connection)")

    def _put(self, item) -> None:
        """Hand an item over, waiting for room; give up when asked to stop (the consumer is gone)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise ReadStopped("cancelled")

    def cancel(self) -> None:
        """Stop the read at its next window and wait for the thread (nothing else is left running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> BatchRead:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def _split(part: dict[str, np.ndarray], at: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A window's columns cut after ``at`` rows (``addresses`` holds the src rows' codes, then the dst rows')."""
    n = len(part["frame"])
    head, tail = {}, {}
    for name, values in part.items():
        if name == "addresses":
            head[name] = np.concatenate([values[:at], values[n:n + at]])
            tail[name] = np.concatenate([values[at:n], values[n + at:]])
        elif name == "book_codes":  # the window's distinct addresses: both halves index them
            head[name], tail[name] = values, values
        else:
            head[name], tail[name] = values[:at], values[at:].copy()
    return head, tail


def _owned(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The window's columns as arrays of their own: the reader hands out views into buffers sized for a whole
    window's worth of records (64 MB a window), which a batch of windows kept waiting would otherwise pin."""
    for name, values in part.items():
        if values.base is not None:
            part[name] = values.copy()
    return part


def merge_report(total: ReadReport, report: ReadReport, name: str | None) -> None:
    """Add one file's ReadReport to the set's (its warnings named after the file when there are several)."""
    total.records += report.records
    total.tcp_packets += report.tcp_packets
    total.non_tcp += report.non_tcp
    total.bytes_read += report.bytes_read
    for linktype, count in report.skipped_linktypes.items():
        total.skipped_linktypes[linktype] = total.skipped_linktypes.get(linktype, 0) + count
    total.warnings.extend(report.warnings if name is None else (f"{name}: {w}" for w in report.warnings))
