"""The entry points: ``analysis.load(path, read, keep) -> Timeline`` (exported from analysis/__init__.py), and the
exports and the text report the command line writes without holding the whole capture in memory.

``path`` is a capture (pcap/pcapng), several pieces of one (a list of
paths, a directory of rotated files, a glob: analysis.stream.files), or a
run bundle directory; ``read`` says what to read beside it and how, ``keep``
which connections to keep (analysis.inputs). The packets are read and folded into
connections a batch at a time (analysis.stream): memory grows with the
connections, not the packets. Only :func:`load` keeps every packet (its
``Timeline.packets``; ``Timeline.events`` then builds the whole timeline,
about 200 bytes a packet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AbortscopeError
from analysis.inputs import Inputs, Keep, PathLike, Read, event_rows, resolve, source_names
from analysis.pcap.columns import empty_packets
from analysis.pcap.table import ReadReport
from analysis.schema import validate_flows
from analysis.stream.outputs import Flows, KeptPackets
from analysis.stream.passes import PassResult, run
from analysis.stream.reading import BatchRead
from analysis.stream.source import PacketSource
from analysis.tally import Tally
from analysis.tcp import build_flows
from analysis.timeline import Timeline, merge

Paths = PathLike | Sequence[PathLike]


@dataclass(frozen=True)
class Summary:
    """What an export read and wrote."""

    report: ReadReport
    warnings: tuple[str, ...]
    connections: int
    packets: int
    rows: int  # rows written
    events: int = 0  # rows of the other sources


def load(path: Paths, read: Read = Read(), keep: Keep = Keep(), *, progress=None,
         ahead: BatchRead | None = None) -> Timeline:
    """Read a capture (or several pieces of one, or a bundle) plus the event logs beside it into one :class:`Timeline`.

    Damaged lines of the event logs, and a log with none readable, are
    skipped with warnings (analysis.side_files). ``progress(done, total)`` is
    told how the capture's read goes. ``ahead``: the capture's read, already
    started (analysis.stream.reading; the CLI starts it before importing this
    module); its batches are used when it reads these files with this engine.
    """
    return load_inputs(resolve(path, read, known=None if ahead is None else ahead.captures), read, keep,
                       progress=progress, ahead=ahead)


def load_inputs(inputs: Inputs, read: Read = Read(), keep: Keep = Keep(), progress=None,
                ahead: BatchRead | None = None) -> Timeline:
    """:func:`load` of resolved inputs (analysis.inputs.resolve)."""
    flows_out, kept = Flows(), KeptPackets()
    result, source = read_passes(inputs, [flows_out, kept], _options(read, keep, progress, ahead))
    packets, flows = kept.table(result.categories()), flows_out.table
    if packets is None or flows is None:
        packets, flows = build_flows(empty_packets().assign(file=np.zeros(0, np.int32)))
    if keep.flow is not None:
        packets = packets[packets["conn"].isin(_conns_of(flows, keep.flow, inputs))]
    return _with_events(inputs, read, flows, packets, source.report, filtered=keep != Keep())


def _options(read: Read, keep: Keep, progress, ahead: BatchRead | None) -> dict:
    """The streamed pass's options (analysis.stream: read_passes and the streamed exports)."""
    return dict(engine=read.engine, read=ahead, progress=progress, port=keep.port, flow=keep.flow)


def _conns_of(flows: pd.DataFrame, flow: str, inputs: Inputs) -> np.ndarray:
    if flow not in set(flows["flow"].astype(str)):
        known = ", ".join(flows["flow"].astype(str).head(5))
        where = ", ".join(map(str, inputs.captures.paths))
        raise AbortscopeError(f"no connection {flow!r} in {where}" + (f" (some are: {known})" if known else ""))
    return flows.loc[flows["flow"] == flow, "conn"].to_numpy()


def _with_events(inputs: Inputs, read: Read, flows: pd.DataFrame, packets: pd.DataFrame, report: ReadReport,
                 filtered: bool) -> Timeline:
    """The Timeline of these packets and flows, with the rows of every event log tied to them."""
    validate_flows(flows)
    side = event_rows(inputs, flows, read)
    frames = side.frames
    if filtered:  # --flow/--port: the event rows and flows of the connections kept
        wanted = set(flows.loc[flows["conn"].isin(packets["conn"].unique()), "flow"].astype(str))
        frames = [f[f["flow"].astype(str).isin(wanted)] for f in frames]
        flows = flows[flows["flow"].astype(str).isin(wanted)].reset_index(drop=True)
    return Timeline(flows=flows, packets=packets, other_events=merge(frames, flows), report=report, meta=inputs.meta,
                    sources=source_names(side), warnings=tuple(side.warnings), files=inputs.captures.names)


def export_timeline(path: Paths, format: str, output, read: Read = Read(), keep: Keep = Keep(), *, progress=None,
                    ahead: BatchRead | None = None) -> Summary:
    """Write the timeline of ``path`` (``load``'s arguments) as ``format`` (analysis.export) to ``output``.

    A capture with no other event source is streamed (analysis.stream.timeline):
    its rows are written as the batches are folded, in time order, so the
    whole timeline never sits in memory; the result reads back
    (pandas.read_parquet) as ``load(...).events`` exported with
    analysis.export.export. Interrupted (Ctrl-C) or failing, nothing is left at
    ``output``; with no row at all, nothing is written.
    """
    from analysis.stream.exports import stream_timeline

    inputs = resolve(path, read, known=_known(ahead))
    if not inputs.packets_only:
        return _export_loaded(inputs, "timeline", format, output, None, read, keep, progress, ahead)
    return stream_timeline(inputs, format, output, _options(read, keep, progress, ahead))


def export_table(path: Paths, table: str, format: str, output, verdicts: list[str] | None = None,
                 read: Read = Read(), keep: Keep = Keep(), *, progress=None, ahead: BatchRead | None = None) -> Summary:
    """Write one table of ``path`` as ``format`` to ``output``: ``table`` "connections" (the connection table) or
    "timeline" (the rows of the connections kept); ``verdicts`` keeps the connections with those verdicts.
    Packets only, it is streamed: the connection table a chunk of ended connections at a time; the rows of
    the chosen connections by a second pass that knows which they are."""
    from analysis.stream.exports import stream_connections, stream_rows_of_verdicts

    inputs = resolve(path, read, known=_known(ahead))
    if not inputs.packets_only:
        return _export_loaded(inputs, table, format, output, verdicts, read, keep, progress, ahead)
    options = _options(read, keep, progress, ahead)
    if table == "connections":
        return stream_connections(inputs, format, output, verdicts, options)
    return stream_rows_of_verdicts(inputs, format, output, verdicts, options)


def _export_loaded(inputs: Inputs, table: str, format: str, output, verdicts: list[str] | None, read: Read,
                   keep: Keep, progress, ahead: BatchRead | None) -> Summary:
    """The whole-table way (event logs need every connection first): load, then write."""
    from analysis import export as exports

    timeline = load_inputs(inputs, read, keep, progress, ahead)
    if table == "timeline" and verdicts is None:
        rows = timeline.events
    else:
        connections = timeline.connections
        if verdicts is not None:
            connections = connections[connections["verdict"].isin(verdicts)]
        rows = connections if table == "connections" else timeline.connection_events(connections["conn"].to_numpy())
    if len(rows) or table == "connections":
        exports.export(rows, format, output, table=table)
    return Summary(timeline.report, timeline.warnings, len(timeline.flows), len(timeline.packets), len(rows),
                   len(timeline.other_events))


@dataclass(frozen=True)
class Report:
    """The text report's material: verdict counts, the connections to explain (most telling first), whether clean
    ones are among them, and a Timeline holding those connections' packets (``flow_events``) and sources."""

    summary: Summary
    tally: Tally
    shown: pd.DataFrame
    everything: bool
    timeline: Timeline


def report(path: Paths, details: int, verdicts: list[str] | None = None, read: Read = Read(), keep: Keep = Keep(), *,
           progress=None, ahead: BatchRead | None = None) -> Report:
    """What ``abortscope analyze`` prints: the counts of every verdict (of ``verdicts`` only, when given) and the
    ``details`` most telling connections. Packets only, streamed (analysis.stream.exports.stream_report)."""
    from analysis.stream.exports import stream_report

    inputs = resolve(path, read, known=_known(ahead))
    if inputs.packets_only:
        return stream_report(inputs, details, verdicts, _options(read, keep, progress, ahead))
    timeline = load_inputs(inputs, read, keep, progress, ahead)
    tally = Tally(details, verdicts, keep.flow)
    tally.take(timeline.connections)
    everything = verdicts is not None or tally.total <= details
    summary = Summary(timeline.report, timeline.warnings, len(timeline.flows), len(timeline.packets), 0,
                      len(timeline.other_events))
    return Report(summary, tally, tally.shown(everything), everything, timeline)


def each_connection_chunk(inputs: Inputs, take, restart, read: Read = Read(), *, progress=None,
                          ahead: BatchRead | None = None) -> Summary:
    """Every connection of ``inputs`` (resolved, packets only) as rows of the connection table, a chunk at a
    time handed to ``take`` (analysis.stream.exports.stream_connection_chunks): memory for what ``take``
    keeps, never a table of every packet. What was read."""
    from analysis.stream.exports import stream_connection_chunks

    if not inputs.packets_only:
        raise ValueError("the connection table is streamed for packets only: load() the inputs with event logs")
    return stream_connection_chunks(inputs, take, restart, _options(read, Keep(), progress, ahead))


def _known(ahead: BatchRead | None):
    """The capture set a read already started (the command line's) reads, so as not to look for it twice."""
    return None if ahead is None else ahead.captures


def read_passes(inputs: Inputs, outputs: list, options: dict, **more) -> tuple[PassResult, PacketSource]:
    """Run the connection pass over ``inputs``' packets into ``outputs`` (``load``'s engine/port/progress/read;
    ``threads``: False to read in this thread)."""
    source = PacketSource(inputs.captures, options.get("engine", "fast"), options.get("read"),
                          options.get("progress"), options.get("port"), threads=options.get("threads", True))
    return run(source, outputs, inputs.captures.names, **more), source


__all__ = ["Keep", "Read", "Report", "Summary", "each_connection_chunk", "export_table", "export_timeline", "load",
           "load_inputs", "read_passes", "report"]
