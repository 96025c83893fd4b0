"""The command line's outputs for a capture with no event log, streamed: no table of every packet, ever.

    stream_timeline           the timeline, written in time order as the batches are folded
    stream_connections        the connection table, a chunk of ended connections at a time
    stream_connection_chunks  the same chunks handed to a caller (annotate makes its comments from them)
    stream_rows_of_verdicts   the timeline rows of the connections with some verdicts (a second pass)
    stream_report             the text report's numbers, rows to explain, and those rows' packets

Each is one pass of analysis.stream.passes (two for the rows of chosen
connections, and for a text report whose connections end after the first
packets it keeps: the second pass stops after the last packet it needs).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.api import Report, Summary, read_passes
from analysis.errors import AbortscopeError
from analysis.events import packets as rows_of
from analysis.export import TableWriter
from analysis.inputs import Inputs
from analysis.pcap.columns import empty_packets as no_packets
from analysis.schema import FLOW_COLUMN_NAMES, empty
from analysis.stream.outputs import TABLE_CHUNK, ConnectionRows, KeptPackets
from analysis.stream.passes import Output
from analysis.stream.timeline import TimelineRows
from analysis.tally import Tally
from analysis.tcp import build_flows
from analysis.tcp.fold import ConnectionFold, Step
from analysis.timeline import Timeline

#: the text report keeps the first packets of a capture, this many at most (a batch: about 15 MB, held all
#: through the pass): the rows of the connections it explains are then at hand when they are among them (the
#: most telling come first, then the earliest), as they are for a small capture; else it is read again, up to
#: the last packet of those connections
KEEP_PACKETS = 1 << 17


#: the connection table's chunks, for a consumer that holds them again (the export's writer thread encodes
#: each, annotate makes each one's comments): half the others', so that the pass peaks lower (the 1M-packet
#: benchmark file's export: 324 MB at most, 399 MB with whole chunks, as fast; annotate 327 MB, 410 MB)
KEPT_CHUNK = TABLE_CHUNK // 2


class _TimelineFile:
    """TimelineRows' writer: the rows as Arrow record batches (parquet) or timeline frames (text formats)."""

    def __init__(self, writer: TableWriter):
        self.table = writer
        self.rows = 0

    def start(self) -> None:
        self.table.start()

    def write(self, columns: rows_of.Columns) -> None:
        n = len(columns["ts_ns"])
        for start in range(0, n, rows_of.CHUNK_ROWS):
            piece = rows_of.taken(columns, slice(start, start + rows_of.CHUNK_ROWS))
            self.table.write(rows_of.arrow_rows(piece, self.table.schema) if self.table.schema is not None
                             else rows_of.frame(piece))

    def end(self) -> int:
        if not self.table.rows:  # nothing is written when there is no row
            self.table.abort()
            return 0
        return self.table.end()

    def abort(self) -> None:
        self.table.abort()


class _Seen(Output):
    """How many connections there are, and whether one has the id ``flow`` (a few others, to name them)."""

    def __init__(self, flow: str | None):
        self.flow, self.found, self.some = flow, False, []

    def ended(self, ended) -> None:
        if self.flow is not None and not self.found:
            texts = ended.flows()["flow"].astype(str)
            self.found = bool((texts == self.flow).any())
            self.some = (self.some + texts.head(5).tolist())[:5]

    def check(self, inputs: Inputs) -> None:
        if self.flow is not None and not self.found:
            where = ", ".join(map(str, inputs.captures.paths))
            known = ", ".join(self.some)
            raise AbortscopeError(f"no connection {self.flow!r} in {where}" + (f" (some are: {known})" if known else ""))


def _rows_of_flow(flow: str):
    def keep(step: Step, fold: ConnectionFold) -> np.ndarray:
        texts = fold.texts(step.conns, step.client).to_numpy(zero_copy_only=False)
        conns = step.conns["conn"][texts == flow]
        return np.isin(step.packets["conn"].to_numpy(), conns)

    return keep


def _rows_of_conns(conns: np.ndarray):
    def keep(step: Step, fold: ConnectionFold) -> np.ndarray:
        return np.isin(step.packets["conn"].to_numpy(), conns)

    return keep


def _written(inputs: Inputs, output: Output, writer, flow: str | None, options: dict, **more):
    """One pass into ``output`` (and a check that ``flow``, if any, is there); nothing is left of the written
    file when the pass fails or is interrupted."""
    seen = _Seen(flow)
    try:
        result, source = read_passes(inputs, [output, seen], options, **more)
    except BaseException:
        writer.abort()
        raise
    seen.check(inputs)
    return result, source


def stream_timeline(inputs: Inputs, format: str, output, options: dict) -> Summary:
    flow = options.pop("flow", None)
    writer = _TimelineFile(TableWriter(format, output))
    rows = TimelineRows(writer, inputs.captures.names, _rows_of_flow(flow) if flow else None)
    result, source = _written(inputs, rows, writer, flow, options)
    return Summary(source.report, inputs.warnings, result.connections, result.packets, rows.rows)


class _ConnectionFile(Output):
    """The connection table's chunks into a TableWriter, keeping the verdicts and the flow asked for."""

    def __init__(self, writer: TableWriter, verdicts: list[str] | None, flow: str | None, threaded: bool = True):
        self.writer, self.verdicts, self.flow = writer, verdicts, flow
        # the file starts (over) once the rows of a pass before are all taken: ConnectionRows calls it then
        self.table = ConnectionRows(self._write, writer.start, chunk=KEPT_CHUNK, threaded=threaded)

    def start(self, attempt: int) -> None:
        self.table.start(attempt)

    def ended(self, ended) -> None:
        self.table.ended(ended)

    def _write(self, table: pd.DataFrame) -> None:
        if self.verdicts is not None:
            table = table[table["verdict"].isin(self.verdicts)]
        if self.flow is not None:
            table = table[table["flow"] == self.flow]
        self.writer.write(table)

    def end(self) -> None:
        self.table.end()
        self.rows = self.writer.end()


def stream_connections(inputs: Inputs, format: str, output, verdicts: list[str] | None, options: dict) -> Summary:
    flow = options.pop("flow", None)
    writer = TableWriter(format, output, table="connections", template=_connection_template())
    table = _ConnectionFile(writer, verdicts, flow)
    result, source = _written(inputs, table, writer, flow, options)
    return Summary(source.report, inputs.warnings, result.connections, result.packets, table.rows)


def stream_connection_chunks(inputs: Inputs, take: Callable[[pd.DataFrame], None], restart: Callable[[], None],
                             options: dict) -> Summary:
    """Each chunk of the connection table (ended connections, by connection number) handed to ``take``, on the
    pass's thread for them (analysis.stream.outputs.ConnectionRows); ``restart``: forget them, the pass runs
    again. Only what ``take`` keeps is kept, never a table of every packet."""
    result, source = read_passes(inputs, [ConnectionRows(take, restart, chunk=KEPT_CHUNK)], options)
    return Summary(source.report, inputs.warnings, result.connections, result.packets, 0)


def _connection_template() -> pd.DataFrame:
    """An empty connection table (the parquet schema's pandas types)."""
    from analysis.diagnosis import connection_table

    return connection_table(build_flows(no_packets())[1], empty())


class _Chosen(Output):
    """The connection numbers whose verdict (and flow) is one of those asked for."""

    def __init__(self, verdicts: list[str] | None, flow: str | None):
        self.verdicts, self.flow = verdicts, flow
        self.table = ConnectionRows(self._take, self._forget)

    def start(self, attempt: int) -> None:
        self.table.start(attempt)

    def _forget(self) -> None:
        """A pass begins (again): the rows of the one before are all taken by now (ConnectionRows.start)."""
        self.conns: list[np.ndarray] = []

    def ended(self, ended) -> None:
        self.table.ended(ended)

    def _take(self, table: pd.DataFrame) -> None:
        keep = table["verdict"].isin(self.verdicts) if self.verdicts is not None else np.ones(len(table), bool)
        if self.flow is not None:
            keep &= table["flow"] == self.flow
        self.conns.append(table.loc[np.asarray(keep, dtype=bool), "conn"].to_numpy(np.int64))

    def end(self) -> None:
        self.table.end()
        self.chosen = np.sort(np.concatenate(self.conns)) if self.conns else np.zeros(0, np.int64)


def stream_rows_of_verdicts(inputs: Inputs, format: str, output, verdicts: list[str] | None,
                            options: dict) -> Summary:
    flow = options.pop("flow", None)
    chosen, seen = _Chosen(verdicts, flow), _Seen(flow)
    first, source = read_passes(inputs, [chosen, seen], options)
    seen.check(inputs)
    writer = _TimelineFile(TableWriter(format, output))
    rows = TimelineRows(writer, inputs.captures.names, _rows_of_conns(chosen.chosen))
    if not len(chosen.chosen):
        return Summary(source.report, inputs.warnings, first.connections, first.packets, 0)
    _written(inputs, rows, writer, None, {**options, "read": None}, hints=first.hints)
    return Summary(source.report, inputs.warnings, first.connections, first.packets, rows.rows)


def stream_report(inputs: Inputs, details: int, verdicts: list[str] | None, options: dict) -> Report:
    flow = options.pop("flow", None)
    tally, seen = Tally(details, verdicts, flow), _Seen(flow)
    kept = KeptPackets(budget=KEEP_PACKETS)
    counted = ConnectionRows(tally.take, tally.start, ordered=False)  # the tally ranks the rows itself
    result, source = read_passes(inputs, [counted, kept, seen], options)
    seen.check(inputs)
    everything = verdicts is not None or tally.total <= details
    shown = tally.shown(everything)
    conns = shown["conn"].to_numpy(np.int64) if len(shown) else np.zeros(0, np.int64)
    last_frame = int(shown["last_frame"].max()) if len(shown) else -1
    packets = kept.table(result.categories()) if kept.covers(last_frame) else None
    if packets is None and len(conns):  # read again, up to the last packet of the connections shown
        again = KeptPackets(conns)
        read_passes(inputs, [again], {**options, "read": None, "progress": None}, hints=result.hints,
                    stop_after_frame=last_frame)
        packets = again.table(result.categories())
    empty_packets, empty_flows = build_flows(no_packets().assign(file=np.zeros(0, np.int32)))
    packets = empty_packets if packets is None else packets[packets["conn"].isin(conns)].reset_index(drop=True)
    flows = shown[list(FLOW_COLUMN_NAMES)].reset_index(drop=True) if len(shown) else empty_flows
    timeline = Timeline(flows=flows, packets=packets, report=source.report, meta=inputs.meta,
                        sources=("packets",), files=inputs.captures.names)
    summary = Summary(source.report, inputs.warnings, result.connections, result.packets, 0)
    return Report(summary, tally, shown, everything, timeline)
