"""Several capture files as one capture: which files, in which order, under which names.

A capture often comes in pieces: ``tcpdump -C 100 -W 20`` or ``-G 60``
writes a ring of files, and a connection that starts in one piece ends in a
later one. :func:`capture_set` takes what a user names (files, directories
of pieces, glob patterns) and gives the pieces in the order their packets
were captured: by each file's first TCP packet's timestamp (the name breaks
ties; files without a TCP packet go last). Each piece keeps a short name,
its path relative to the pieces' common folder, which the timeline's
``file`` column and the connection table's ``first_file``/``last_file`` use.

A directory is a set of pieces when it is not a run bundle (analysis.bundle):
every regular file in it that starts like a pcap or pcapng file, whatever
its name (tcpdump names rotated pieces ``FILE``, ``FILE1``, ``FILE2``...).

Numpy only (no pandas): the command line reads the first pieces while it
imports the analysis (analysis.stream.reading).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AbortscopeError, CaptureFormatError
from analysis.pcap import damage
from analysis.pcap.formats import PCAP_MAGICS, PCAPNG_SHB_MAGIC
from analysis.pcap.scan import ScanState, scan_pcap
from analysis.pcap.scan_pcapng import scan_pcapng

_MAGICS = (*PCAP_MAGICS, PCAPNG_SHB_MAGIC)
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class CaptureFile:
    path: Path
    name: str  # relative to the set's common folder: the `file` column
    first_ts_ns: int | None  # the first record's capture time; None: the file has none


@dataclass(frozen=True)
class CaptureSet:
    """The pieces of one capture, in capture order."""

    files: tuple[CaptureFile, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(f.path for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.path.stat().st_size for f in self.files)

    def __len__(self) -> int:
        return len(self.files)


def expand(arguments: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """The capture files that the arguments name: files as given, directories' capture files, globs' matches."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            pieces = sorted(p for p in path.iterdir() if p.is_file() and _looks_like_capture(p))
            if not pieces:
                raise CaptureFormatError(f"{path}: a directory with no pcap or pcapng file in it")
            found += pieces
        elif path.exists() or not _GLOB_CHARACTERS & set(str(argument)):
            if not path.exists():
                raise AbortscopeError(f"{path}: no such file or directory")
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(argument)) if Path(p).is_file())
            if not matches:
                raise AbortscopeError(f"{argument}: no file matches")
            found += matches
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def capture_set(arguments: list[str | Path] | tuple[str | Path, ...]) -> CaptureSet:
    """The capture set the arguments name, ordered by first packet (see the module docstring)."""
    paths = expand(arguments)
    firsts = [first_timestamp(p) for p in paths]
    names = _names(paths)
    files = [CaptureFile(p, n, ts) for p, n, ts in zip(paths, names, firsts)]
    files.sort(key=lambda f: (f.first_ts_ns is None, f.first_ts_ns or 0, f.name))
    return CaptureSet(tuple(files))


#: the first record is looked for a small window at a time
_PEEK_BYTES = 1 << 20


def first_timestamp(path: Path) -> int | None:
    """The capture time of the file's first record (the reader's scan stops at the first window that has one)."""
    try:
        return _first_timestamp(path)
    except OSError as exc:  # permissions, an I/O error: the one line the reader gives for it
        raise damage.unreadable(path, exc) from exc


def _first_timestamp(path: Path) -> int | None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        scan = scan_pcap if head in PCAP_MAGICS else scan_pcapng if head == PCAPNG_SHB_MAGIC else None
        if scan is None:
            raise damage.not_a_capture(path, head)
        batches = scan(f, size, ScanState(), _PEEK_BYTES, str(path))
        try:
            for batch in batches:
                if len(batch.ts_ns):
                    return int(batch.ts_ns[0])
        finally:
            batches.close()
    return None


def _names(paths: list[Path]) -> list[str]:
    if len(paths) == 1:
        return [paths[0].name]
    resolved = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    return [str(p.relative_to(common)) for p in resolved]


def _looks_like_capture(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) in _MAGICS
    except OSError:
        return False
