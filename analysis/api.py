"""`analysis.load(path, ...) -> Timeline` (exported from analysis/__init__.py): the notebook/CLI entry point.

``path`` is a capture (pcap/pcapng) or a run bundle directory
(analysis/bundle.py); in a bundle, ``app.jsonl``, ``strace.txt`` and
``kernel.txt`` are picked up unless given explicitly, and ``meta.json``
supplies the trace clock offset and which side was traced.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis import bundle
from analysis.errors import AbortscopeError, BundleError
from analysis.events import packets
from analysis.pcap import read_packets
from analysis.pcap.ahead import ReadAhead
from analysis.pcap.fast import plain_columns
from analysis.tcp.facts import add_facts
from analysis.tcp.flows import assign_connections
from analysis.schema import validate_flows
from analysis.side_files import SideFiles, read_side_files
from analysis.timeline import Timeline, merge

PathLike = str | Path


def _pick(explicit: PathLike | None, default: Path | None) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    if default is not None and default.is_file() and default.stat().st_size > 0:
        return default
    return None


def load(path: PathLike, app: PathLike | None = None, strace: PathLike | None = None, kernel: PathLike | None = None,
         applog: PathLike | None = None, flow: str | None = None, port: int | None = None, engine: str = "fast",
         progress=None, jsonl: PathLike | None = None, tz: str | None = None,
         trace_to_realtime_ns: int | None = None, lean: bool = False, ahead: ReadAhead | None = None) -> Timeline:
    """Read a capture or bundle plus optional event logs into one :class:`Timeline`.

    ``flow`` keeps one connection (its id, as in ``Timeline.flows.flow``);
    ``port`` keeps connections with that port on either side. ``tz`` is the
    zone of ``applog`` timestamps (default: UTC, as a bundle's server.log is
    written; a warning says so for other logs). Damaged lines of the event
    logs, and a log with none readable, are skipped with warnings
    (analysis.side_files). ``trace_to_realtime_ns``
    overrides the bundle's clock offset for ``kernel``. ``lean=True`` leaves
    ``Timeline.packets`` with src, dst and vlan as Categoricals (same values,
    far less memory on big captures; the CLI uses it). ``ahead``: the
    capture's read, already started (analysis.pcap.ahead; the CLI starts it
    before importing this module); its table is used when it reads this
    capture with this engine. Whoever starts it ends it (``with ReadAhead(...)``).
    """
    return _load(path, app=app, strace=strace, kernel=kernel, applog=applog, flow=flow, port=port, engine=engine,
                 progress=progress, jsonl=jsonl, tz=tz, trace_to_realtime_ns=trace_to_realtime_ns, lean=lean,
                 ahead=ahead)


def export_timeline(path: PathLike, format: str, output, **options) -> tuple[Timeline, int]:
    """``load(path, lean=True, **options)`` and write its timeline as ``format`` (analysis.export) to ``output``.

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
                timeline = _load(path, lean=True, on_connections=write_packet_rows if format == "parquet" else None,
                                 **options)
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
                 **options) -> tuple[Timeline, int]:
    """``load(path, lean=True, **options)`` and write one of its tables as ``format`` (analysis.export) to
    ``output``: ``table`` "connections" (the connection table) or "timeline" (the rows of the connections
    kept); ``verdicts`` keeps the connections with those verdicts. Returns the Timeline and the rows written.
    Unlike :func:`export_timeline`, the rows are written once the connections' verdicts are known."""
    from analysis import export as exports

    timeline = _load(path, lean=True, **options)
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


def _load(path: PathLike, app: PathLike | None = None, strace: PathLike | None = None, kernel: PathLike | None = None,
          applog: PathLike | None = None, flow: str | None = None, port: int | None = None, engine: str = "fast",
          progress=None, jsonl: PathLike | None = None, tz: str | None = None,
          trace_to_realtime_ns: int | None = None, lean: bool = False, ahead: ReadAhead | None = None,
          on_connections: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None) -> Timeline:
    """load(). ``on_connections(packets, flows)``, when the packets are the only source, is called as soon as
    the connections are known (before their facts): the caller builds the packet rows from those two
    (export_timeline)."""
    path = Path(path)
    meta: dict = {}
    warnings: list[str] = []
    defaults: dict[str, Path | None] = {"app": None, "strace": None, "kernel": None}
    if path.is_dir():
        if not bundle.is_bundle(path):
            raise BundleError(f"{path}: a directory but not a run bundle (no {bundle.META})")
        meta, warnings = bundle.load_meta(path)
        paths = bundle.BundlePaths(path)
        capture = paths.capture
        if not capture.exists():
            raise BundleError(f"{path}: the bundle has no {bundle.CAPTURE}")
        defaults = {"app": paths.app, "strace": paths.strace, "kernel": paths.kernel}
    elif path.exists():
        capture = path
    else:
        raise AbortscopeError(f"{path}: no such file or directory")
    strace, kernel, app = (_pick(strace, defaults["strace"]), _pick(kernel, defaults["kernel"]),
                           _pick(app, defaults["app"]))
    packets_only = strace is None and kernel is None and app is None and applog is None and jsonl is None

    if ahead is not None and engine == "fast" and ahead.reads(capture):
        table, report = ahead.table(lean=True)
    else:
        table, report = read_packets(capture, engine=engine, progress=progress, lean=True)
    if port is not None:
        table = table[(table["sport"] == port) | (table["dport"] == port)]
    _release_freed_memory()  # the reader's per-window pieces, joined into the table by now
    all_pk, flows = assign_connections(table)  # build_flows, in its two steps, with the heap trimmed between
    del table
    _release_freed_memory()
    pk = all_pk
    if flow is not None:
        if flow not in set(flows["flow"].astype(str)):
            known = ", ".join(flows["flow"].astype(str).head(5))
            raise AbortscopeError(f"no connection {flow!r} in {capture}" + (f" (some are: {known})" if known else ""))
        keep = flows.loc[flows["flow"] == flow, "conn"].to_numpy()
        pk = pk[pk["conn"].isin(keep)]
    if on_connections is not None and packets_only:
        on_connections(pk, flows)
    flows = add_facts(all_pk, flows)
    validate_flows(flows)
    del all_pk
    _release_freed_memory()
    side = read_side_files(SideFiles(strace, kernel, app, _pick(applog, None), _pick(jsonl, None)), flows, meta, tz=tz,
                           trace_to_realtime_ns=trace_to_realtime_ns, bundle_root=path if path.is_dir() else None)
    frames: list[pd.DataFrame] = list(side.frames)
    sources = ["packets", *side.sources]
    warnings += side.warnings

    for name, frame in zip(sources[1:], frames):
        untied = int((frame["flow"].astype(str) == "").sum())
        if len(frame) and untied == len(frame):
            warnings.append(f"none of the {len(frame)} {name} events names a connection of the capture "
                            "(different run, or a port filter?)")
    if flow is not None or port is not None:
        wanted = set(flows.loc[flows["conn"].isin(pk["conn"].unique()), "flow"].astype(str))
        frames = [f[f["flow"].astype(str).isin(wanted)] for f in frames]
        flows = flows[flows["flow"].astype(str).isin(wanted)].reset_index(drop=True)
    other_events = merge(frames, flows)
    del frames
    if not lean:
        pk = plain_columns(pk)
    return Timeline(flows=flows, packets=pk, other_events=other_events, report=report, meta=meta,
                    sources=tuple(sources), warnings=tuple(warnings))


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
