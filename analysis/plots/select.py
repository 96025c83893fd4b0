"""Picking the rows a plot draws: one connection, several, or "the interesting one"."""

from __future__ import annotations

import pandas as pd

from analysis.errors import AbortscopeError


class PlotInputError(AbortscopeError):
    """The timeline cannot be plotted as asked (unknown flow, no rows, missing columns)."""


_REQUIRED = ("ts_ns", "flow", "source", "actor", "kind")
#: A flow showing one of these is the one a user asking "why did my write fail" wants to see.
_INTERESTING = ("write_error", "RST", "rst_sent", "rst_received", "sk_error", "read_eof", "FIN")


def check(timeline: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in timeline.columns]
    if missing:
        raise PlotInputError(f"the timeline lacks the columns {missing} (see analysis/schema.py)")


def flows_in_order(timeline: pd.DataFrame) -> list[str]:
    """Flow ids (non-empty), in order of their first row."""
    check(timeline)
    ordered = timeline.sort_values("ts_ns", kind="stable")["flow"].astype("string").dropna()
    return [f for f in pd.unique(ordered) if f]


def resolve_flow(timeline: pd.DataFrame, flow: str | int | None) -> str:
    """The flow id meant by ``flow``.

    ``None`` picks the first flow showing a failure (write error, RST, ...),
    else the first flow. An int (or digit string) is a 1-based index in order
    of appearance; any other string is an exact id or a unique substring
    (``":39262"``).
    """
    flows = flows_in_order(timeline)
    if not flows:
        raise PlotInputError("the timeline has no rows tied to a connection (empty 'flow' everywhere)")
    if flow is None:
        kinds = timeline.assign(kind=timeline["kind"].astype("string"))
        for wanted in _INTERESTING:
            hits = kinds.loc[kinds["kind"] == wanted, "flow"].astype("string")
            hits = [f for f in hits if f]
            if hits:
                return min(hits, key=flows.index)
        return flows[0]
    text = str(flow)
    if text in flows:
        return text
    listing = ", ".join(f"{i}: {f}" for i, f in enumerate(flows, 1))
    if text.isdigit():
        if 1 <= int(text) <= len(flows):
            return flows[int(text) - 1]
        raise PlotInputError(f"there is no connection number {text}; the timeline has {listing}")
    matches = [f for f in flows if text in f]
    if len(matches) == 1:
        return matches[0]
    why = "matches several flows" if matches else "matches no flow"
    raise PlotInputError(f"flow {text!r} {why}; the timeline has {listing}")


def flow_rows(timeline: pd.DataFrame, flow: str) -> pd.DataFrame:
    """The rows of one flow, in time order (ties keep the timeline's order)."""
    rows = timeline[timeline["flow"].astype("string") == flow]
    return rows.sort_values("ts_ns", kind="stable")


def endpoints(flow: str) -> tuple[str, str]:
    """``('127.0.0.1:39262', '127.0.0.1:18061')`` from ``client>server``."""
    client, _, server = flow.partition(">")
    return client, server


def text(value: object) -> str | None:
    """A cell as a plain string, or None for any kind of null."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)
