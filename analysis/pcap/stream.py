"""The fast engine's reading half: a capture file -> decoded TCP rows, window by window, as numpy columns.

scan.py cuts the file into records, decode.py decodes their headers, and
here each window's rows are kept with the addresses as AddressBook codes
(16 raw bytes become an int32). fast.py joins the pieces into the table.

Numpy and C only, no pandas: analysis.stream.reading starts this on a thread while the
caller is still importing pandas (a third of a second, otherwise spent
before the first byte is read).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import damage
from .addresses import AddressBook
from .decode import Decoded, decode, limit_warnings
from .formats import PCAP_MAGICS, PCAPNG_SHB_MAGIC
from .scan import CHUNK_BYTES, ScanState, scan_pcap
from .scan_pcapng import scan_pcapng
from .table import ReadReport

Progress = Callable[[int, int], None]

#: Columns kept per window until the table is built; the addresses are kept apart, numbered (see compact).
KEPT = ("frame", "ts_ns", "iface", "vlan_key", "ip_version", "sport", "dport", "flags", "seq_raw", "ack_raw", "len",
        "win", "truncated")


class ReadStopped(Exception):
    """The read was asked to stop (analysis.stream.reading's cancel) before the end of the file."""


def decoded_batches(path: Path, report: ReadReport, progress: Progress | None = None,
                    chunk_bytes: int = CHUNK_BYTES, stop: threading.Event | None = None) -> Iterator[Decoded]:
    """Each window's decoded TCP rows; ``report`` is filled as reading goes and finished at the end.

    ``stop``, once set, ends the read at the next window with ReadStopped.
    """
    try:
        yield from _decoded_batches(path, report, progress, chunk_bytes, stop)
    except OSError as exc:  # unreadable (permissions, I/O error): one clear error, from the reading thread too
        raise damage.unreadable(path, exc) from exc


def _decoded_batches(path: Path, report: ReadReport, progress: Progress | None, chunk_bytes: int,
                     stop: threading.Event | None) -> Iterator[Decoded]:
    total = path.stat().st_size
    state = ScanState()
    header_cut = 0
    beyond_limits: dict[str, int] = {}
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head in PCAP_MAGICS:
            batches = scan_pcap(f, total, state, chunk_bytes, str(path))
        elif head == PCAPNG_SHB_MAGIC:
            batches = scan_pcapng(f, total, state, chunk_bytes, str(path))
        else:
            raise damage.not_a_capture(path, head)
        for batch in batches:
            if stop is not None and stop.is_set():
                batches.close()  # closes the window: its read-ahead is cancelled
                raise ReadStopped(str(path))
            decoded = decode(batch)
            report.records = state.records
            report.non_tcp += decoded.non_tcp  # includes segments whose header was cut
            report.tcp_packets += len(decoded.frame)
            for name, count in decoded.skipped.items():
                report.skipped_linktypes[name] = report.skipped_linktypes.get(name, 0) + count
            header_cut += decoded.header_cut
            for kind, count in decoded.beyond_limits.items():
                beyond_limits[kind] = beyond_limits.get(kind, 0) + count
            yield decoded
            if progress is not None:
                progress(state.bytes_read, total)
    report.records = state.records
    report.bytes_read = state.bytes_read
    report.non_tcp += state.frames_without_packet
    report.warnings.extend(state.warnings)
    if header_cut:
        report.warnings.append(damage.header_cut(header_cut))
    report.warnings.extend(limit_warnings(beyond_limits))
    if state.bad_ts_count:
        report.warnings.append(damage.bad_timestamps(state.bad_ts_count, state.bad_ts_first_frame))
    if state.unrepresentable_ts_count:
        report.warnings.append(damage.unrepresentable_timestamps(state.unrepresentable_ts_count,
                                                                  state.unrepresentable_ts_first_frame))
    if progress is not None:
        progress(total, total)
    damage.finish(path, report)


def compact(decoded: Decoded, book: AddressBook) -> dict[str, np.ndarray]:
    """The window's KEPT columns, and its 16-byte raw addresses numbered (AddressBook.codes): "addresses", the
    src then dst rows' codes within the window, and "book_codes", their codes in the book. fast.py's table_of
    maps them (AddressBook.book_column_codes) as it joins the windows: done here, on the reading thread, the
    mapping would be one more wait for the GIL a window while pandas is imported beside it."""
    kept = {name: getattr(decoded, name) for name in KEPT}
    kept["addresses"], kept["book_codes"] = book.codes(decoded.ip_version, decoded.src, decoded.dst)
    return kept


def collect(path: Path, report: ReadReport, book: AddressBook, progress: Progress | None = None,
            chunk_bytes: int = CHUNK_BYTES, stop: threading.Event | None = None) -> list[dict[str, np.ndarray]]:
    """Every window's compacted columns, in file order (fast.py's table_of joins them)."""
    return [compact(d, book) for d in decoded_batches(path, report, progress, chunk_bytes, stop)]
