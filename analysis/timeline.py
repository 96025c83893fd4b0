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

``t_rel`` is seconds since the first packet of the row's connection; rows
with no connection (or a connection without packets) count from the first
row of the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import pyarrow as pa

from analysis.events._columns import codes_in, string_arrow
from analysis.pcap.table import ReadReport
from analysis.schema import COLUMN_NAMES, TIMELINE_COLUMNS, Actor, SchemaError, Source, conform, empty, validate

SOURCE_RANK: dict[str, int] = {Source.SYSCALL.value: 0, Source.KERNEL.value: 1, Source.PACKET.value: 2, Source.APP.value: 3}


def merge(frames: list[pd.DataFrame], flows: pd.DataFrame) -> pd.DataFrame:
    """One validated timeline from the sources' frames (any number, any order).

    Works column by column on numpy/Arrow arrays (categories re-coded, strings
    taken in Arrow), so a million packet rows merge in a fraction of a second.
    """
    frames = [_exact(f) for f in frames if f is not None and len(f)]
    if not frames:
        return empty()
    if len(frames) == 1 and _in_order(frames[0]):
        merged = frames[0].reset_index(drop=True)  # one source already in order: nothing to move
        return _with_t_rel(merged, flows)
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
    return _with_t_rel(pd.DataFrame(out, copy=False), flows)


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


def _with_t_rel(merged: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    # t_rel: seconds since the first packet of the row's flow, else since the first row
    names = flows["flow"].astype(str).tolist()
    codes = codes_in(merged["flow"], names)
    first_ts = np.append(flows["first_ts_ns"].to_numpy(np.int64), int(merged["ts_ns"].iloc[0]))
    merged["t_rel"] = (merged["ts_ns"].to_numpy(np.int64) - first_ts[np.where(codes >= 0, codes, len(names))]) / 1e9
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


@dataclass
class Timeline:
    """Everything :func:`analysis.load` read: the merged events, the connections, and how reading went.

    - ``events``: the timeline DataFrame (analysis.schema columns), sorted by time;
    - ``flows``: one row per connection (analysis.tcp: ids, roles, counts, history,
      conn_state, close facts);
    - ``packets``: the packet table annotated with ``conn``/``from_client``/relative seq/ack;
    - ``report``: the capture reader's ReadReport (warnings, skipped link types);
    - ``meta``: the bundle's meta.json ({} for a bare capture);
    - ``sources``: which event sources were loaded (names from analysis.events.SOURCES).
    """

    events: pd.DataFrame
    flows: pd.DataFrame
    packets: pd.DataFrame
    report: ReadReport = field(default_factory=ReadReport)
    meta: dict = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def flow_events(self, flow: str) -> pd.DataFrame:
        return self.events[self.events["flow"] == flow]

    def diagnose(self, flow: str | None = None) -> list:
        """One :class:`analysis.diagnosis.Diagnosis` per connection (or for ``flow`` only)."""
        from analysis.diagnosis import diagnose

        return diagnose(self, flow=flow)

    def report_text(self, flow: str | None = None) -> str:
        """Plain-text report: per connection, the verdict and its sentences."""
        blocks = []
        for d in self.diagnose(flow=flow):
            blocks.append(d.text())
        return "\n\n".join(blocks) if blocks else "no TCP connection found"
