"""A capture set's packets as the pass reads them: lean packet tables, a batch at a time, afresh for each pass.

The fast engine streams (analysis.stream.reading); the scapy and pyshark
engines read a file whole, so their batches are whole files. Either way the
frames run on across the files and a ``file`` column says which file each
packet came from; ``port`` keeps the packets with that port on either side.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from analysis.pcap import read_packets
from analysis.pcap.fast import table_of
from analysis.pcap.table import ReadReport
from analysis.stream.files import CaptureSet
from analysis.stream.reading import Batch, BatchRead, Progress, merge_report


def batch_frame(batch: Batch) -> pd.DataFrame:
    """A read batch as a lean packet table (analysis.pcap.fast.table_of) with the ``file`` column."""
    files = np.concatenate([part.pop("file") for part in batch.parts]) if batch.parts else np.zeros(0, np.int32)
    table = table_of(batch.parts, batch.book, lean=True)
    table["file"] = files
    return table


class PacketSource:
    """``source(attempt)``: the packets of the capture set, batch by batch (analysis.stream.passes.Source).

    ``read``: the fast engine's read of this set, already started (the command line starts it before it
    imports pandas); the first pass takes it, a pass run again reads the files again. :attr:`report` is
    the first pass's ReadReport. ``threads=False`` reads in the caller's thread (a batch task: there the
    workers, one core each, are the parallelism).
    """

    def __init__(self, captures: CaptureSet, engine: str = "fast", read: BatchRead | None = None,
                 progress: Progress | None = None, port: int | None = None, batch_rows: int | None = None,
                 threads: bool = True):
        self.captures, self.engine, self.port, self.threads = captures, engine, port, threads
        self.progress, self.batch_rows = progress, batch_rows
        self._read = read if read is not None and read.captures.paths == captures.paths and engine == "fast" else None
        self.report = ReadReport()

    def __call__(self, attempt: int) -> Iterator[pd.DataFrame]:
        tables = self._fast(attempt) if self.engine == "fast" else self._whole_files(attempt)
        for table in tables:
            if self.port is not None:
                table = table[(table["sport"] == self.port) | (table["dport"] == self.port)]
            yield table

    def _fast(self, attempt: int) -> Iterator[pd.DataFrame]:
        read = self._read if attempt == 0 and self._read is not None else \
            BatchRead(self.captures, self.progress, self.batch_rows, threaded=self.threads)
        with read:
            for batch in read:
                table = batch_frame(batch)
                del batch
                yield table
        if attempt == 0:
            self.report = read.report

    def _whole_files(self, attempt: int) -> Iterator[pd.DataFrame]:
        frames = 0
        report = ReadReport()
        for index, capture in enumerate(self.captures.files):
            table, part = read_packets(capture.path, engine=self.engine, progress=self.progress, lean=True)
            table = table.assign(frame=table["frame"] + frames, file=np.full(len(table), index, dtype=np.int32))
            frames += part.records
            merge_report(report, part, capture.name if len(self.captures) > 1 else None)
            yield table
        if attempt == 0:
            self.report = report

