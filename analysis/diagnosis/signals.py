"""Per connection: the evidence rows and the boolean signals the verdict rules read.

Everything is looked up in the connection's slice of the timeline plus its
flows row (analysis.tcp.facts); nothing here decides a verdict (verdicts.py)
or words a sentence (explain.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from analysis.errnos import TRANSIENT
from analysis.schema import EventKind, Source

NEAR_NS = 20_000_000  # kernel events belong to a packet when within 20 ms of it (clock offsets are µs-accurate)


@dataclass(frozen=True)
class Evidence:
    """One timeline row that proves part of a diagnosis."""

    label: str  # what it shows: 'fin', 'late_data', 'rst_answer', 'syscall_error', ...
    source: str
    ts_ns: int
    t_rel: float
    actor: str | None
    kind: str
    frame: int | None = None
    errno: str | None = None
    length: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Findings:
    flow: str
    closer: str  # the side whose FIN came first (or 'client')
    writer: str  # the other side (the one that may write after the close)
    signals: dict[str, bool]
    items: dict[str, Evidence]
    numbers: dict[str, int | float | str | None] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()


def _evidence(label: str, row: pd.Series) -> Evidence:
    def get(name):
        value = row.get(name)
        return None if value is None or pd.isna(value) else value

    return Evidence(label=label, source=str(row["source"]), ts_ns=int(row["ts_ns"]), t_rel=float(row["t_rel"]),
                    actor=get("actor"), kind=str(row["kind"]), frame=None if get("frame") is None else int(row["frame"]),
                    errno=get("errno"), length=None if get("len") is None else int(row["len"]), detail=get("detail"))


def _frame_row(packets: pd.DataFrame, frame) -> pd.Series | None:
    if frame is None or pd.isna(frame):
        return None
    hit = packets[packets["frame"] == int(frame)]
    return None if hit.empty else hit.iloc[0]


def _value(flow_row: pd.Series, name: str):
    value = flow_row.get(name)
    return None if value is None or pd.isna(value) else value


def gather(flow_row: pd.Series, events: pd.DataFrame, loaded_sources: tuple[str, ...] = ()) -> Findings:
    """Evidence and signals of one connection (``events``: its rows of the timeline)."""
    items: dict[str, Evidence] = {}
    packets = events[events["source"] == Source.PACKET.value]
    kernel = events[events["source"] == Source.KERNEL.value]
    syscalls = events[events["source"] == Source.SYSCALL.value]
    app = events[events["source"] == Source.APP.value]

    writer = _value(flow_row, "data_after_fin_by")
    closer = {"client": "server", "server": "client"}.get(writer) if writer else (_value(flow_row, "first_fin_by") or "client")
    writer = writer or {"client": "server", "server": "client"}[closer]

    for label, column in (("fin", "first_fin_frame"), ("late_data", "data_after_fin_frame"),
                          ("rst_answer", "rst_answer_frame"), ("first_rst", "first_rst_frame"),
                          ("half_close", "half_close_frame"), ("writer_fin", f"fin_frame_{writer}")):
        row = _frame_row(packets, _value(flow_row, column))
        if row is not None:
            items[label] = _evidence(label, row)

    rst = items.get("first_rst")
    if rst is not None and not kernel.empty:
        near = kernel[(kernel["ts_ns"] - rst.ts_ns).abs() <= NEAR_NS]
        sent = near[(near["kind"] == EventKind.RST_SENT.value) & (near["actor"] == rst.actor)]
        if not sent.empty:
            items["rst_reason"] = _evidence("rst_reason", sent.iloc[(sent["ts_ns"] - rst.ts_ns).abs().argmin()])
        receiver = {"client": "server", "server": "client"}.get(rst.actor)
        closing = near[(near["kind"] == EventKind.STATE.value) & (near["actor"] == receiver)
                       & near["detail"].astype(str).str.endswith("->CLOSE")]
        if not closing.empty:
            items["state_at_rst"] = _evidence("state_at_rst", closing.iloc[0])
        err = near[(near["kind"] == EventKind.SK_ERROR.value) & (near["actor"] == receiver)]
        if not err.empty:
            items["sk_error"] = _evidence("sk_error", err.iloc[0])

    failing = syscalls[syscalls["kind"].isin([EventKind.WRITE_ERROR.value, EventKind.READ_ERROR.value])
                       & syscalls["errno"].notna() & ~syscalls["errno"].isin(list(TRANSIENT))]
    if not failing.empty:
        items["syscall_error"] = _evidence("syscall_error", failing.iloc[0])
        write_fail = failing[failing["kind"] == EventKind.WRITE_ERROR.value]
        if not write_fail.empty:
            items["write_error"] = _evidence("write_error", write_fail.iloc[0])
    fin = items.get("fin")
    if fin is not None:
        ok_writes = syscalls[(syscalls["kind"] == EventKind.WRITE.value) & (syscalls["ts_ns"] > fin.ts_ns)
                             & (syscalls["actor"] == writer)]
        if not ok_writes.empty:
            items["write_after_fin"] = _evidence("write_after_fin", ok_writes.iloc[0])
    eof = syscalls[syscalls["kind"] == EventKind.READ_EOF.value]
    if not eof.empty:
        items["read_eof"] = _evidence("read_eof", eof.iloc[0])

    app_errors = app[app["errno"].notna() | app["kind"].isin([EventKind.WRITE_ERROR.value, EventKind.READ_ERROR.value])]
    if not app_errors.empty:
        items["app_error"] = _evidence("app_error", app_errors.iloc[0])
    aborts = app[(app["kind"] == EventKind.ABORT.value) & (app["actor"] == writer)]
    if not aborts.empty:
        items["app_abort"] = _evidence("app_abort", aborts.iloc[0])
    app_writes = app[(app["kind"] == EventKind.WRITE.value) & app["errno"].isna()]
    if not app_writes.empty:
        items["app_write"] = _evidence("app_write", app_writes.iloc[-1])

    first_rst_by = _value(flow_row, "first_rst_by")
    first_rst_frame = _value(flow_row, "first_rst_frame")
    def aborted(side: str) -> bool:
        own_fin = _value(flow_row, f"fin_frame_{side}")
        return first_rst_by == side and (own_fin is None or own_fin > first_rst_frame) and _value(flow_row, "rst_answer_frame") is None

    errnos_seen = set(failing["errno"].astype(str))
    signals = {
        "refused": str(flow_row.get("conn_state")) == "REJ",
        "late_data": "late_data" in items,
        "rst_answers_late": "rst_answer" in items,
        "client_abort": aborted("client"),
        "server_abort": aborted("server"),
        "syscall_error": "syscall_error" in items,
        "syscall_epipe": "EPIPE" in errnos_seen,
        "syscall_econnreset": "ECONNRESET" in errnos_seen,
        "syscall_seen": not syscalls.empty,
        "app_seen": not app.empty,
        "app_error": "app_error" in items,
        "half_close": "half_close" in items,
        "both_fin": _value(flow_row, "fin_frame_client") is not None and _value(flow_row, "fin_frame_server") is not None,
        "any_fin": _value(flow_row, "first_fin_frame") is not None,
        "any_rst": first_rst_frame is not None,
    }
    numbers = {
        "bytes_after_gone": int(flow_row.get(f"bytes_after_peer_fin_{writer}", 0) or 0),
        "bytes_before_close": int(flow_row.get(f"bytes_before_peer_fin_{writer}", 0) or 0),
        "closer_bytes_before": int(flow_row.get(f"bytes_before_peer_fin_{closer}", 0) or 0),
        "unacked_at_rst": _value(flow_row, "unacked_at_rst_bytes"),
        "lost_after_rst": int(flow_row.get("lost_after_rst_bytes", 0) or 0),
        "rst_reason": _reason(items.get("rst_reason")),
        "state_before_rst": _old_state(items.get("state_at_rst")),
    }
    present = {s for s in loaded_sources}
    return Findings(flow=str(flow_row["flow"]), closer=closer, writer=writer, signals=signals, items=items,
                    numbers=numbers, sources=frozenset(present))


def _reason(ev: Evidence | None) -> str | None:
    if ev is None or not ev.detail:
        return None
    match = re.search(r"reason=(\S+)", ev.detail)
    return match.group(1) if match else None


def _old_state(ev: Evidence | None) -> str | None:
    if ev is None or not ev.detail or "->" not in ev.detail:
        return None
    return ev.detail.split("->", 1)[0]
