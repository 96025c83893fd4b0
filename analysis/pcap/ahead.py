"""Start reading a capture before pandas is imported: the fast engine's read on its own thread.

A command-line run pays about 0.3 s to import pandas and the analysis
before it can read a byte, while the read itself mostly waits on copies
from the page cache and on C loops that release the GIL. So the CLI
starts the read first (this module and stream.py need only numpy and the
C module), imports the rest while it runs, and then takes the table:

    ahead = ReadAhead(path, progress)      # reading, on a thread
    from analysis.api import load           # pandas imports meanwhile
    timeline = load(path, ahead=ahead)      # load() takes the table from it

The table is the one ``fast.read(path)`` gives. A read that fails raises
its error from ``table()``; ``cancel()`` (or leaving a ``with`` block)
stops it at its next window and waits for the thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

from .addresses import AddressBook
from .scan import CHUNK_BYTES
from .stream import Progress, ReadStopped, collect
from .table import ReadReport

class ReadAhead:
    """The fast engine's read of ``path``, started at once on a thread."""

    def __init__(self, path: str | Path, progress: Progress | None = None, chunk_bytes: int = CHUNK_BYTES):
        self.path = Path(path)
        self._stop = threading.Event()
        self._report = ReadReport()
        self._book = AddressBook()
        self._parts: Future = Future()
        self._thread = threading.Thread(target=self._read, args=(progress, chunk_bytes), name="read-ahead")
        self._thread.start()

    def _read(self, progress: Progress | None, chunk_bytes: int) -> None:
        try:
            self._parts.set_result(collect(self.path, self._report, self._book, progress, chunk_bytes, self._stop))
        except BaseException as exc:  # handed to table()'s caller
            self._parts.set_exception(exc)

    def reads(self, path: str | Path) -> bool:
        return Path(path).resolve() == self.path.resolve()

    def table(self, lean: bool = False):
        """(DataFrame, ReadReport), as fast.read(path, lean=lean); waits for the read. Once only."""
        from .fast import table_of  # pandas: imported by now, or here

        parts = self._parts.result()
        return table_of(parts, self._book, lean), self._report

    def cancel(self) -> None:
        """Stop the read at its next window and wait for the thread (nothing else is left running)."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


__all__ = ["ReadAhead", "ReadStopped"]
