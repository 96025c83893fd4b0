"""`analysis.load(path, read, keep) -> Timeline` (exported from analysis/__init__.py): the notebook/CLI entry point.

``path`` is a capture (pcap/pcapng) or a run bundle directory
(analysis/bundle.py). Two small values say the rest: :class:`Read`, what to
read and how (the capture's reader, the event logs by source name, how to
place their times), and :class:`Keep`, which connections to keep. In a
bundle, every source of analysis.events.SOURCES with a bundle file
(strace.txt, kernel.txt, app.jsonl) is read unless another file is named,
and ``meta.json`` supplies the trace clock offset and which side was traced.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from analysis import bundle
from analysis.errors import AbortscopeError, BundleError
from analysis.events import PACKETS, SOURCES, packets
from analysis.pcap import read_packets
from analysis.pcap.ahead import ReadAhead
from analysis.schema import validate_flows
from analysis.side_files import read_side_files
from analysis.tcp.facts import add_facts
from analysis.tcp.flows import assign_connections
from analysis.timeline import Timeline, merge

PathLike = str | Path


@dataclass(frozen=True)
class Read:
    """What to read, and how.

    - ``logs``: event logs by source name (analysis.events.SOURCES: strace, kernel, app, applog, jsonl, ...),
      one file or several each; a run bundle's own files are read for the sources not named here;
    - ``engine``: the capture reader (fast, scapy, pyshark);
    - ``tz``: the zone of wall-clock log times (default: UTC, as a bundle's server.log is written; a
      warning says so for other logs);
    - ``trace_to_realtime_ns``: the tracefs clock offset, over the bundle's.
    """

    logs: Mapping[str, PathLike | Sequence[PathLike]] = field(default_factory=dict)
    engine: str = "fast"
    tz: str | None = None
    trace_to_realtime_ns: int | None = None

    def files(self, bundle_dir: Path | None) -> dict[str, list[Path]]:
        """Each source's files: the ones named, else the bundle's own file when it has a non-empty one."""
        named = {name: [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
                 for name, paths in self.logs.items() if paths is not None}
        for name, source in SOURCES.items():
            own = bundle_dir / source.bundle_file if bundle_dir is not None and source.bundle_file else None
            if name not in named and own is not None and own.is_file() and own.stat().st_size > 0:
                named[name] = [own]
        return named


@dataclass(frozen=True)
class Keep:
    """Which connections to keep: one (``flow``, its id as in ``Timeline.flows.flow``), or those with ``port``
    on either side; everything by default."""

    flow: str | None = None
    port: int | None = None

    def __post_init__(self):
        if self.flow is not None and self.port is not None:
            raise AbortscopeError("keep one flow or the connections of a port, not both")


def load(path: PathLike, read: Read = Read(), keep: Keep = Keep(), *, progress=None,
         ahead: ReadAhead | None = None) -> Timeline:
    """Read a capture or bundle plus the event logs beside it into one :class:`Timeline`.

    Damaged lines of the event logs, and a log with none readable, are
    skipped with warnings (analysis.side_files). ``progress(done, total)``
    is told how the capture's read goes. ``ahead``: the capture's read,
    already started (analysis.pcap.ahead; the CLI starts it before importing
    this module); its table is used when it reads this capture with this
    engine. Whoever starts it ends it (``with ReadAhead(...)``).
    """
    return _load(path, read, keep, progress=progress, ahead=ahead)


def export_timeline(path: PathLike, format: str, output, read: Read = Read(), keep: Keep = Keep(), *, progress=None,
                    ahead: ReadAhead | None = None) -> tuple[Timeline, int]:
    """``load(path, read, keep)`` and write its timeline as ``format`` (analysis.export) to ``output``.

    Returns the Timeline, with ``packets`` left empty (its rows are
    written, and freed), and the number of rows written; nothing is written
    when there is no row. A capture with no other event source exported as
    parquet is streamed: its packet rows are built and written a slice at a
    time (analysis.events.packets.arrow_chunks), so the whole timeline never
    sits in memory, and on a second thread, while this one works out the
    connections' facts (the rows do not depend on them). The file reads back
    (pandas.read_parquet) as load's events exported with analysis.export.export.
    Interrupted (Ctrl-C) or failing, the writer stops at its next slice and
    the half-written file is removed.
    """
    from analysis import export as exports

    if format == "parquet":
        # Imported here, while the capture's read-ahead (if any) is still running, rather than by the writer
        # thread, which would start 0.02 s later on the way to the end.
        importlib.import_module("pyarrow.parquet")
    writing: list[Future] = []
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="parquet") as pool:  # leaving it waits for the writer

            def write_packet_rows(pk: pd.DataFrame, flows: pd.DataFrame) -> None:
                if len(pk):
                    pieces = _until(stop, packets.arrow_chunks(pk, flows, exports.arrow_schema()))
                    writing.append(pool.submit(exports.write_parquet_chunks, pieces, output))

            try:
                timeline = _load(path, read, keep, progress=progress, ahead=ahead,
                                 on_connections=write_packet_rows if format == "parquet" else None)
                rows = writing[0].result() if writing else 0
            except BaseException:  # Ctrl-C or an error: the writer stops at its next slice
                stop.set()
                raise
    except BaseException:
        if writing and isinstance(output, (str, Path)):
            Path(output).unlink(missing_ok=True)  # a timeline cut short must not pass for a whole one
        raise
    if not writing:  # not streamed: the whole timeline, then the file
        events = timeline.events
        rows = len(events)
        if rows:
            exports.export(events, format, output)
        del events
    return replace(timeline, packets=timeline.packets.iloc[:0]), rows


def export_table(path: PathLike, table: str, format: str, output, verdicts: list[str] | None = None,
                 read: Read = Read(), keep: Keep = Keep(), *, progress=None,
                 ahead: ReadAhead | None = None) -> tuple[Timeline, int]:
    """``load(path, read, keep)`` and write one of its tables as ``format`` (analysis.export) to
    ``output``: ``table`` "connections" (the connection table) or "timeline" (the rows of the connections
    kept); ``verdicts`` keeps the connections with those verdicts. Returns the Timeline and the rows written.
    Unlike :func:`export_timeline`, the rows are written once the connections' verdicts are known."""
    from analysis import export as exports

    timeline = _load(path, read, keep, progress=progress, ahead=ahead)
    connections = timeline.connections
    if verdicts is not None:
        connections = connections[connections["verdict"].isin(verdicts)]
    rows = connections if table == "connections" else timeline.connection_events(connections["conn"].to_numpy())
    exports.export(rows, format, output, table=table)
    return timeline, len(rows)


def _until(stop: threading.Event, pieces: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for piece in pieces:
        if stop.is_set():
            return
        yield piece


def _load(path: PathLike, read: Read, keep: Keep, progress=None, ahead: ReadAhead | None = None,
          on_connections: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None) -> Timeline:
    """load(). ``on_connections(packets, flows)``, when the packets are the only source, is called as soon as
    the connections are known (before their facts): the caller builds the packet rows from those two
    (export_timeline)."""
    path = Path(path)
    capture, bundle_dir, meta, warnings = _locate(path)
    files = read.files(bundle_dir)
    pk, all_pk, flows, report = _connections(capture, read, keep, progress, ahead)
    if on_connections is not None and not files:
        on_connections(pk, flows)
    flows = add_facts(all_pk, flows)
    validate_flows(flows)
    del all_pk
    _release_freed_memory()
    side = read_side_files(files, flows, meta, tz=read.tz, trace_to_realtime_ns=read.trace_to_realtime_ns,
                           bundle_root=bundle_dir)
    warnings += side.warnings
    for name, frame in zip(side.sources, side.frames):
        if len(frame) and (frame["flow"].astype(str) == "").all():
            warnings.append(f"none of the {len(frame)} {name} events names a connection of the capture "
                            "(different run, or a port filter?)")
    frames = side.frames
    if keep.flow is not None or keep.port is not None:
        wanted = set(flows.loc[flows["conn"].isin(pk["conn"].unique()), "flow"].astype(str))
        frames = [f[f["flow"].astype(str).isin(wanted)] for f in frames]
        flows = flows[flows["flow"].astype(str).isin(wanted)].reset_index(drop=True)
    return Timeline(flows=flows, packets=pk, other_events=merge(frames, flows), report=report, meta=meta,
                    sources=tuple(dict.fromkeys([PACKETS, *side.sources])), warnings=tuple(warnings))


def _locate(path: Path) -> tuple[Path, Path | None, dict, list[str]]:
    """(the capture, the bundle directory or None, meta.json's content, warnings about it) of a load() path."""
    if path.is_dir():
        if not bundle.is_bundle(path):
            raise BundleError(f"{path}: a directory but not a run bundle (no {bundle.META})")
        meta, warnings = bundle.load_meta(path)
        capture = bundle.BundlePaths(path).capture
        if not capture.exists():
            raise BundleError(f"{path}: the bundle has no {bundle.CAPTURE}")
        return capture, path, meta, warnings
    if path.exists():
        return path, None, {}, []
    raise AbortscopeError(f"{path}: no such file or directory")


def _connections(capture: Path, read: Read, keep: Keep, progress, ahead: ReadAhead | None):
    """(the kept packets, every packet, the flows, the read report): the capture read and its connections found."""
    if ahead is not None and read.engine == "fast" and ahead.reads(capture):
        table, report = ahead.table(lean=True)
    else:
        table, report = read_packets(capture, engine=read.engine, progress=progress, lean=True)
    if keep.port is not None:
        table = table[(table["sport"] == keep.port) | (table["dport"] == keep.port)]
    _release_freed_memory()  # the reader's per-window pieces, joined into the table by now
    all_pk, flows = assign_connections(table)
    del table
    _release_freed_memory()
    pk = all_pk
    if keep.flow is not None:
        if keep.flow not in set(flows["flow"].astype(str)):
            known = ", ".join(flows["flow"].astype(str).head(5))
            raise AbortscopeError(f"no connection {keep.flow!r} in {capture}" + (f" (some are: {known})" if known else ""))
        pk = pk[pk["conn"].isin(flows.loc[flows["flow"] == keep.flow, "conn"].to_numpy())]
    return pk, all_pk, flows, report


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise), so big captures peak lower."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
