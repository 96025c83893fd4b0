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

from analysis.pcap.table import ReadReport
from analysis.schema import COLUMN_NAMES, Source, conform, empty, validate

SOURCE_RANK: dict[str, int] = {Source.SYSCALL.value: 0, Source.KERNEL.value: 1, Source.PACKET.value: 2, Source.APP.value: 3}


def merge(frames: list[pd.DataFrame], flows: pd.DataFrame) -> pd.DataFrame:
    """One validated timeline from conformed source frames (any number, any order)."""
    frames = [f[list(COLUMN_NAMES)] for f in frames if f is not None and len(f)]
    if not frames:
        return empty()
    flow_names = pd.Index(pd.unique(np.concatenate(
        [flows["flow"].astype(str).to_numpy()] + [f["flow"].astype(str).unique() for f in frames])))
    parts = []
    for f in frames:
        part = f.copy()
        # categorical flow with one shared category set keeps the concat cheap for big packet frames
        part["flow"] = pd.Categorical(f["flow"].astype(str) if not isinstance(f["flow"].dtype, pd.CategoricalDtype)
                                      else f["flow"].astype(str), categories=flow_names)
        part["kind"] = f["kind"].astype(str) if len(f) < 100_000 else f["kind"]
        parts.append(part)
    kinds = pd.Index(pd.unique(np.concatenate([p["kind"].astype(str).unique() for p in parts])))
    for p in parts:
        p["kind"] = pd.Categorical(p["kind"].astype(str) if not isinstance(p["kind"].dtype, pd.CategoricalDtype) else p["kind"].astype(str),
                                   categories=kinds)
    merged = pd.concat(parts, ignore_index=True)
    ts = merged["ts_ns"].to_numpy(np.int64)
    rank = merged["source"].map(SOURCE_RANK).to_numpy(np.int64)
    order = np.lexsort((np.arange(len(merged)), rank, ts))
    merged = merged.take(order).reset_index(drop=True)

    base = dict(zip(flows["flow"].astype(str), flows["first_ts_ns"].astype(np.int64)))
    first_any = int(merged["ts_ns"].iloc[0])
    codes = merged["flow"].cat.codes.to_numpy()
    base_per_code = np.array([base.get(name, first_any) for name in flow_names], dtype=np.int64)
    merged["t_rel"] = (merged["ts_ns"].to_numpy(np.int64) - base_per_code[codes]) / 1e9
    merged["flow"] = merged["flow"].astype(str).astype("string")
    merged["kind"] = merged["kind"].astype(str).astype("category")
    out = conform(merged)
    validate(out)
    return out


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
