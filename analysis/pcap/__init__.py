"""Capture files -> the packet table (table.py), by one of three engines.

    read_packets(path, engine="fast", progress=None) -> (DataFrame, ReadReport)
    iter_packet_chunks(path, chunk_records=...) -> DataFrames, chunk by chunk (bounded memory; fast engine)

Several files as one capture, and reading a capture a batch at a time on a
thread (before pandas is imported), are above this package: analysis.stream.

Engines (ENGINES): "fast" (streaming; its two per-record loops in C,
csrc/, with numpy twins as reference and fallback; the default), "scapy" (scapy's
readers and layers), "pyshark" (tshark through pyshark; the only module here
that starts a process). They are tested to give identical tables. Damaged
input follows damage.py: CaptureFormatError when nothing can be read (or the
file cannot be read at all), otherwise the rows before the damage plus a
warning with the byte offset.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CaptureFormatError
from . import damage
from .table import PACKET_COLUMNS, ReadReport

if TYPE_CHECKING:  # not at run time: the fast engine's reading half runs before pandas is imported (analysis.stream.reading)
    import pandas as pd

Progress = Callable[[int, int], None]

#: engine name -> module with `read(path, progress=None) -> (DataFrame, ReadReport)`.
ENGINES: dict[str, str] = {
    "fast": "analysis.pcap.fast",
    "scapy": "analysis.pcap.scapy_engine",
    "pyshark": "analysis.pcap.pyshark_engine",
}
DEFAULT_ENGINE = "fast"


def read_packets(path: str | Path, engine: str = DEFAULT_ENGINE, progress: Progress | None = None,
                 lean: bool = False) -> tuple[pd.DataFrame, ReadReport]:
    """The packet table of one pcap/pcapng file, and what else the reader saw.

    ``lean=True`` gives src, dst and vlan as Categoricals (same values; far
    less memory on big captures): the fast engine builds them so, the others'
    columns are converted.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown capture engine {engine!r}; choose one of {', '.join(ENGINES)}")
    path = _existing_file(path)
    module = importlib.import_module(ENGINES[engine])  # lazy: scapy and pyshark are slow to import
    try:
        if lean and engine == "fast":
            return module.read(path, progress=progress, lean=True)
        table, report = module.read(path, progress=progress)
    except OSError as exc:  # permissions, an I/O error: one line, whichever engine met it
        raise damage.unreadable(path, exc) from exc
    return (table.astype({name: "category" for name in LEAN_COLUMNS}) if lean else table), report


#: the packet table's text columns that lean tables hold as Categoricals (few distinct values, many rows)
LEAN_COLUMNS = ("src", "dst", "vlan")


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CaptureFormatError(f"{path}: no such capture file" if not path.exists() else f"{path}: not a file")
    return path


def iter_packet_chunks(path: str | Path, chunk_records: int = 1 << 18, progress: Progress | None = None, report: ReadReport | None = None) -> Iterator[pd.DataFrame]:
    """The fast engine's table in pieces of about `chunk_records` records (memory stays bounded)."""
    from . import fast

    yield from fast.iter_chunks(_existing_file(path), chunk_records=chunk_records, progress=progress, report=report)


__all__ = ["ENGINES", "PACKET_COLUMNS", "ReadReport", "iter_packet_chunks", "read_packets"]
