"""Merge every source's rows into one timeline, and the Timeline object the API returns.

Order: by ``ts_ns``; events at the very same nanosecond (rare: the sources
have different clocks and resolutions) are ordered by cause before effect,
:data:`SOURCE_RANK`: the syscall (strace stamps the *entry*, the call that
asks for the action) before the kernel's tracepoint (the stack acting), before
the packet (what the stack put on the wire, stamped at the capture point),
before the application's own log of the outcome (written after the call
returned). Within one source the parser's order is kept (stable sort).
Note: this order is a tie-break only; a syscall's *effect* may well carry an
earlier timestamp than its entry on another clock (see analysis.clock).

``conn`` is the row's connection number (flows' ``conn``): the packet rows
carry it from the TCP layer, the other sources' rows get it from the flow
they were tied to. ``t_rel`` is seconds since the first packet of the row's
connection; rows with no connection count from the first row of the
timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

import pyarrow as pa

from analysis.events._columns import codes_in, string_arrow
from analysis.events.packets import parse as packet_rows
from analysis.pcap.table import ReadReport
from analysis.schema import COLUMN_NAMES, TIMELINE_COLUMNS, Actor, SchemaError, Source, conform, empty, validate

SOURCE_RANK: dict[str, int] = {Source.SYSCALL.value: 0, Source.KERNEL.value: 1, Source.PACKET.value: 2, Source.APP.value: 3}


def merge(frames: list[pd.DataFrame], flows: pd.DataFrame) -> pd.DataFrame:
    """One validated timeline from the sources' frames (any number, any order).

    Works column by column on numpy/Arrow arrays (categories re-coded, strings
    taken in Arrow), so a million packet rows merge in a fraction of a second.
    Rows without ``conn`` get it (and their ``t_rel``) from their flow.
    """
    frames = [_with_conn(_exact(f), flows) for f in frames if f is not None and len(f)]
    if not frames:
        return empty()
    if len(frames) == 1 and _in_order(frames[0]):
        merged = frames[0].reset_index(drop=True)  # one source already in order: nothing to move
        return _untied_from_first_row(merged)
    ts = np.concatenate([f["ts_ns"].to_numpy(np.int64) for f in frames])
    rank = np.concatenate([f["source"].map(SOURCE_RANK).to_numpy(np.int64) for f in frames])
    order = np.lexsort((np.arange(len(ts)), rank, ts))
    out = {}
    for col in TIMELINE_COLUMNS:
        parts = [f[col.name] for f in frames]
        if col.dtype == "category":
            out[col.name] = _merge_categories(parts, order)
        elif col.dtype == "string":
            joined = pa.chunked_array([string_arrow(p) for p in parts], type=pa.large_string())
            out[col.name] = pd.arrays.ArrowStringArray(joined.take(pa.array(order)).combine_chunks())
        elif col.dtype == "Int64":
            data = np.concatenate([p.array._data if isinstance(p.array, pd.arrays.IntegerArray) else p.fillna(0).to_numpy(np.int64) for p in parts])
            mask = np.concatenate([p.array._mask if isinstance(p.array, pd.arrays.IntegerArray) else p.isna().to_numpy() for p in parts])
            out[col.name] = pd.arrays.IntegerArray(data[order].astype(np.int64), mask[order])
        else:
            out[col.name] = np.concatenate([p.to_numpy(col.dtype, na_value=np.nan) if col.dtype == "float64" else p.to_numpy(col.dtype) for p in parts])[order]
    return _untied_from_first_row(pd.DataFrame(out, copy=False))


def _in_order(frame: pd.DataFrame) -> bool:
    """Rows already sorted by (ts_ns, SOURCE_RANK), e.g. packets.parse's (the sort would leave them in place)."""
    ts = frame["ts_ns"].to_numpy(np.int64)
    if len(ts) < 2:
        return True
    if not (ts[1:] >= ts[:-1]).all():
        return False
    source = frame["source"]
    if isinstance(source.dtype, pd.CategoricalDtype) and len(source.cat.categories) and source.nunique(dropna=False) <= 1:
        return True  # one source: ties keep their order
    rank = source.map(SOURCE_RANK).to_numpy(np.int64)
    return not ((ts[1:] == ts[:-1]) & (rank[1:] < rank[:-1])).any()


def _with_conn(frame: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``conn`` from its flow ids and ``t_rel`` since that connection's first packet, where it has
    no conn yet (the rows of the event sources; the packet rows come with both)."""
    missing = frame["conn"].isna().to_numpy()
    if not missing.any():
        return frame
    position = codes_in(frame["flow"][missing], flows["flow"].astype(str).tolist())
    tied = position >= 0
    conn = frame["conn"].array.copy()
    conn[np.flatnonzero(missing)[tied]] = flows["conn"].to_numpy(np.int64)[position[tied]]
    t_rel = frame["t_rel"].to_numpy(np.float64, copy=True)
    first_ts = flows["first_ts_ns"].to_numpy(np.int64)[position[tied]]
    t_rel[np.flatnonzero(missing)[tied]] = (frame["ts_ns"].to_numpy(np.int64)[missing][tied] - first_ts) / 1e9
    return frame.assign(conn=conn, t_rel=t_rel)


def _untied_from_first_row(merged: pd.DataFrame) -> pd.DataFrame:
    """Rows tied to no connection count their t_rel from the first row of the timeline; then the schema check."""
    untied = merged["conn"].isna().to_numpy()
    if untied.any():
        ts = merged["ts_ns"].to_numpy(np.int64)
        t_rel = merged["t_rel"].to_numpy(np.float64, copy=True)
        t_rel[untied] = (ts[untied] - ts[0]) / 1e9
        merged["t_rel"] = t_rel
    validate(merged)
    return merged


def _exact(frame: pd.DataFrame) -> pd.DataFrame:
    """Small frames go through schema.conform; big ones must already be exact (packets.parse builds them so)."""
    frame = frame[list(COLUMN_NAMES)].assign(t_rel=frame["t_rel"].fillna(0.0))
    if len(frame) >= 100_000:
        try:
            validate(frame)
            return frame
        except SchemaError:
            pass
    return conform(frame)


def _merge_categories(parts: list[pd.Series], order: np.ndarray) -> pd.Categorical:
    categories: list[str] = []
    seen: dict[str, int] = {}
    coded = []
    for p in parts:
        cat = p.astype("category") if not isinstance(p.dtype, pd.CategoricalDtype) else p
        mapping = np.empty(len(cat.cat.categories) + 1, dtype=np.int64)
        for i, name in enumerate(cat.cat.categories):
            if name not in seen:
                seen[name] = len(categories)
                categories.append(name)
            mapping[i] = seen[name]
        mapping[-1] = -1
        coded.append(mapping[cat.cat.codes.to_numpy()])
    codes = np.concatenate(coded)[order]
    for fixed in (_SOURCE_CATEGORIES, _ACTOR_CATEGORIES):
        if set(categories) <= set(fixed):
            remap = np.array([fixed.index(c) for c in categories] + [-1], dtype=np.int64)
            return pd.Categorical.from_codes(remap[codes], categories=fixed)
    return pd.Categorical.from_codes(codes, categories=categories)


_SOURCE_CATEGORIES = [s.value for s in Source]
_ACTOR_CATEGORIES = [a.value for a in Actor]


@dataclass(frozen=True)
class Timeline:
    """Everything :func:`analysis.load` read: the connections, the events, and how reading went.

    - ``flows``: one row per connection from the packets (analysis.schema.FLOW_COLUMNS:
      ids, roles, counts, close facts, history, conn_state);
    - ``packets``: the packet table annotated with ``conn``/``from_client``/relative seq/ack;
    - ``other_events``: the rows of every source but the packets (syscalls, kernel,
      application), in the timeline schema and order, tied to their connections;
    - ``report``: the capture reader's ReadReport (warnings, skipped link types);
    - ``meta``: the bundle's meta.json ({} for a bare capture);
    - ``sources``: which event sources were loaded (names from analysis.events.SOURCES);
    - ``warnings``: what the analysis noticed (events tied to no connection, ...);
    - ``files``: the names of the capture's files, in capture order (the packets' ``file`` column numbers
      them; the timeline's ``file`` column names them).

    Two tables are built from these on first use and kept: :attr:`events`, the
    whole timeline (a row per packet too: on a big capture, the biggest thing
    there is), and :attr:`connections`, the connection table with every
    connection's verdict (it needs no packet rows). :meth:`flow_events` gives
    one connection's rows without building the whole timeline.
    """

    flows: pd.DataFrame
    packets: pd.DataFrame
    other_events: pd.DataFrame = field(default_factory=empty)
    report: ReadReport = field(default_factory=ReadReport)
    meta: dict = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ("",)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The timeline DataFrame (analysis.schema columns), sorted by time: packets and every other source."""
        return merge([packet_rows(self.packets, self.flows, self.files), self.other_events], self.flows)

    @cached_property
    def connections(self) -> pd.DataFrame:
        """The connection table (analysis.schema.CONNECTION_COLUMNS): the flows plus each one's verdict, roles,
        signals and evidence, computed for all connections at once."""
        from analysis.diagnosis import connection_table

        return connection_table(self.flows, self.other_events)

    def flow_events(self, flow: str) -> pd.DataFrame:
        """The timeline rows of one connection (its id, as in ``flows.flow``), in timeline order."""
        return self.connection_events(self.flows.loc[self.flows["flow"] == flow, "conn"].to_numpy())

    def connection_events(self, conns) -> pd.DataFrame:
        """The timeline rows of these connections (``conn`` numbers), in timeline order: taken from
        :attr:`events` when it is built, else built for them alone."""
        if "events" in self.__dict__:  # the whole timeline is there already
            return self.events[self.events["conn"].isin(conns).fillna(False).to_numpy(bool)]
        packets = self.packets[self.packets["conn"].isin(conns)]
        others = self.other_events[self.other_events["conn"].isin(conns).fillna(False).to_numpy(bool)]
        return merge([packet_rows(packets, self.flows, self.files), others], self.flows)

    def diagnose(self, flow: str | None = None) -> list:
        """One :class:`analysis.diagnosis.Diagnosis` per connection (or for ``flow`` only), in words."""
        from analysis.diagnosis import diagnose

        return diagnose(self, flow=flow)

    def report_text(self, flow: str | None = None) -> str:
        """Plain-text report: per connection, the verdict and its sentences."""
        blocks = [d.text() for d in self.diagnose(flow=flow)]
        return "\n\n".join(blocks) if blocks else "no TCP connection found"
