"""tracefs text (the ``trace`` file of an instance) -> timeline rows (source ``kernel``).

Line shape (kernel 6.x, default trace options):

    gosrv-7201    [001] .....  2801.230766: tcp_send_reset: skbaddr=... skaddr=... src=127.0.0.1:51850 dest=127.0.0.1:3917 state=TCP_TIME_WAIT reason=TCP_TIMEWAIT_SOCKET

The task name may contain spaces and dashes; the ``(tgid)`` column and the
irq-flags column are optional. Timestamps are seconds on the trace clock;
:func:`analysis.clock.trace_to_ns` adds the offset from meta.json.

The actor is the side whose *socket* the event is about (the local endpoint
of the event), not the task that happened to run: on loopback the client's
RST is traced in the server's softirq context. ``sock_send_length`` has no
addresses: it is tied through the latest strace write of the same thread
(within 5 ms) and then by its ``sk address`` (see _tie_send_length); without
strace, by the ``# abortscope: socket TOKEN local=.. remote=..`` lines that
`abortscope record --syscalls kernel` writes (capture.recorders.socket_map).

Damaged lines (not a trace line, not a ``#`` comment; a tracepoint line
cut before a field it needs) are skipped and counted in ``lines``
(events._lines); tracefs' own ``CPU:N [LOST M EVENTS]`` lines are a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import clock, errnos
from analysis.errors import EventParseError
from analysis.events._columns import int_or_na
from analysis.events._lines import LineReport, count_bad
from analysis.events._tie import tie
from analysis.events.context import ParseContext
from analysis.schema import EventKind, Source, conform, empty


@dataclass(frozen=True)
class Tracepoint:
    """How one tracepoint's fields map to the timeline (and, for the recorder, where tracefs keeps it)."""

    system: str  # its tracefs event system: events/{system}/{name}
    kind: EventKind
    local: tuple[str, str] | str | None  # (addr field, port field), or one 'ip:port' field
    remote: tuple[str, str] | str | None
    detail: tuple[str, ...]  # fields kept in `detail` as name=value
    errno_field: str | None = None
    #: fields a line must have to be placed (a line cut short loses its last ones); the endpoints are added
    needs: tuple[str, ...] = ()

    @property
    def needed(self) -> tuple[str, ...]:
        ends = [f for end in (self.local, self.remote) for f in ((end,) if isinstance(end, str) else end or ())]
        return (*ends, *self.needs)


#: Tracepoint name -> field mapping (formats: /sys/kernel/tracing/events/{tcp,sock}/*/format).
TRACEPOINTS: dict[str, Tracepoint] = {
    "inet_sock_set_state": Tracepoint("sock", EventKind.STATE, ("saddr", "sport"), ("daddr", "dport"), ("oldstate", "newstate"),
                                      needs=("oldstate", "newstate")),
    "tcp_send_reset": Tracepoint("tcp", EventKind.RST_SENT, "src", "dest", ("reason", "state"), needs=("state",)),
    "tcp_receive_reset": Tracepoint("tcp", EventKind.RST_RECEIVED, ("saddr", "sport"), ("daddr", "dport"), ("sock_cookie",)),
    "inet_sk_error_report": Tracepoint("sock", EventKind.SK_ERROR, ("saddr", "sport"), ("daddr", "dport"), ("error",),
                                       "error", needs=("error",)),
    "sock_send_length": Tracepoint("sock", EventKind.SEND_LENGTH, None, None, ("sk address", "flags"), "error",
                                   needs=("length", "error")),
}

def _fields_used() -> set[str]:
    names = {"family", "protocol", "oldstate", "newstate", "length", "error", "sk address"}
    for tp in TRACEPOINTS.values():
        for end in (tp.local, tp.remote):
            if isinstance(end, tuple):
                names.update({end[0], end[0] + "v6", end[1]})
            elif end:
                names.add(end)
        names.update(tp.detail)
    return names


_FIELDS_USED = _fields_used()

_LINE = (
    r"^\s*(?P<task>.+?)-(?P<pid>\d{1,10})\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+(?:(?P<irq>[.\w]{4,6})\s+)?"
    r"(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<body>.*?)\s*$"
)
_FIELD = r"(?P<key>[a-z_][a-z0-9_ ]*?)\s*=\s*(?P<value>[^,\s]+)"
#: tracefs' note that its ring buffer overflowed on a CPU
_LOST = r"^\s*CPU:\d+ \[LOST (?P<lost>\d+) EVENTS\]\s*$"


def parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """Timeline rows from tracefs text, tied to ``ctx.flows``: the clock offset is ``ctx.trace_to_realtime_ns``,
    else the bundle's (meta["clocks"]["trace_to_realtime_ns"]); ``sock_send_length`` is tied through the
    strace rows read before (``ctx.earlier["strace"]``); damaged lines are counted in ``ctx.lines``."""
    flows, syscalls = ctx.flows, ctx.earlier.get("strace")
    head = _event_lines(text, ctx.lines)
    if head.empty:
        return empty()
    trace_to_realtime_ns = ctx.trace_to_realtime_ns if ctx.trace_to_realtime_ns is not None \
        else clock.trace_offset_from_meta(ctx.meta)
    if trace_to_realtime_ns is None:
        raise EventParseError(
            "kernel trace given without a clock offset: the tracefs clock cannot be placed on the timeline "
            "(a run bundle's meta.json has clocks.trace_to_realtime_ns)")
    ts_ns = clock.trace_to_ns(head["ts"], trace_to_realtime_ns)
    out_of_range = ts_ns == clock.NO_TIME  # the offset pushed it past 2262
    count_bad(ctx.lines, out_of_range, head["line"].to_numpy())
    head, ts_ns = head[~out_of_range], ts_ns[~out_of_range]
    spec = head["event"].map(TRACEPOINTS)
    v6 = head.get("family", pd.Series("", index=head.index)).fillna("") == "AF_INET6"
    local = _endpoint(head, spec, "local", v6)
    remote = _endpoint(head, spec, "remote", v6)
    errno_raw = pd.Series([None] * len(head), index=head.index, dtype=object)
    for event, tp in TRACEPOINTS.items():
        if tp.errno_field and tp.errno_field in head:
            mask = head["event"] == event
            errno_raw[mask] = pd.to_numeric(head.loc[mask, tp.errno_field], errors="coerce").map(
                lambda v: errnos.name_of(int(v)) if pd.notna(v) else None)
    rows = pd.DataFrame({
        "ts_ns": ts_ns,
        "kind": spec.map(lambda tp: tp.kind.value).to_numpy(),
        "errno": errno_raw.to_numpy(),
        "len": int_or_na(head["length"]),
        "detail": _details(head, spec).to_numpy(),
        "pid": head["pid"].astype("int64").to_numpy(),
        "socket": head["sk address"].to_numpy(object),
    })
    rows["flow"], rows["actor"] = tie(ts_ns, local.reset_index(drop=True), remote.reset_index(drop=True), flows)
    _tie_send_length(rows, flows, syscalls)
    _tie_by_socket_lines(rows, text, flows)
    rows["source"] = Source.KERNEL.value
    return conform(rows)


def _event_lines(text: str, lines: LineReport | None) -> pd.DataFrame:
    """The lines of TCP tracepoints whole enough to place, one column per field (``line``: the line's index);
    damaged lines counted in ``lines``. EventParseError when no line at all is a trace line."""
    text_lines = pd.Series(text.splitlines(), dtype="string")
    head = text_lines.str.extract(_LINE)
    lost = pd.to_numeric(text_lines.str.extract(_LOST)["lost"], errors="coerce")
    other = (text_lines.str.startswith("#") | (text_lines.str.strip() == "")).fillna(True) | lost.notna()
    unknown = (head["event"].isna() & ~other).to_numpy(bool)
    if lines is not None and lost.notna().any():
        lines.notes.append(f"the trace lost {int(lost.sum())} events (tracefs ring buffer full): the kernel "
                           "events may have gaps")
    if unknown.any() and head["event"].isna().all():
        raise EventParseError(f"none of the {int(unknown.sum())} non-comment lines is a tracefs event line "
                              "(expected the `trace` file of a tracefs instance)")
    head = head[head["event"].isin(list(TRACEPOINTS))].assign(line=lambda h: h.index)
    fields = head["body"].str.extractall(_FIELD).reset_index()
    fields["key"] = fields["key"].str.strip()
    head = head.join(fields.pivot_table(index="level_0", columns="key", values="value", aggfunc="first"))
    for name in _FIELDS_USED:  # a damaged line may lack fields: they read as missing, never as a KeyError
        if name not in head:
            head[name] = None
    cut = np.zeros(len(head), dtype=bool)
    for event, tp in TRACEPOINTS.items():
        cut |= ((head["event"] == event) & head[list(tp.needed)].isna().any(axis=1)).to_numpy(bool)
    damaged = unknown.copy()
    damaged[head["line"].to_numpy()[cut]] = True
    count_bad(lines, damaged)
    head = head[~cut]
    return head[_is_tcp(head)]


def _is_tcp(head: pd.DataFrame) -> pd.Series:
    protocol = head.get("protocol", pd.Series(None, index=head.index, dtype=object))
    family = head.get("family", pd.Series(None, index=head.index, dtype=object))
    tcp_proto = protocol.isna() | (protocol == "IPPROTO_TCP")
    inet = family.isna() | family.isin(["AF_INET", "AF_INET6"])
    return tcp_proto & inet


def _endpoint(head: pd.DataFrame, spec: pd.Series, which: str, v6: pd.Series) -> pd.Series:
    out = pd.Series("", index=head.index, dtype=object)
    for event, tp in TRACEPOINTS.items():
        mask = head["event"] == event
        field = tp.local if which == "local" else tp.remote
        if not mask.any() or field is None:
            continue
        if isinstance(field, str):
            out[mask] = head.loc[mask, field].fillna("")
            continue
        addr_field, port_field = field
        addr = head.loc[mask, addr_field].fillna("")
        if addr_field + "v6" in head:
            addr = addr.where(~v6[mask], head.loc[mask, addr_field + "v6"])
        port = head.loc[mask, port_field].fillna("0")
        text = np.where(addr.str.contains(":"), "[" + addr + "]:" + port, addr + ":" + port)
        out[mask] = np.where(port == "0", "", text)  # a socket without its port yet (SYN_SENT, LISTEN) names no connection
    return out


def _details(head: pd.DataFrame, spec: pd.Series) -> pd.Series:
    out = pd.Series("", index=head.index, dtype=object)
    for event, tp in TRACEPOINTS.items():
        mask = head["event"] == event
        if not mask.any():
            continue
        if tp.kind is EventKind.STATE:
            old = head.loc[mask, "oldstate"].fillna("?").astype(str).str.removeprefix("TCP_")
            new = head.loc[mask, "newstate"].fillna("?").astype(str).str.removeprefix("TCP_")
            out[mask] = old + "->" + new
            continue
        parts = [f + "=" + head.loc[mask, f].fillna("?").astype(str) for f in tp.detail if f in head]
        text = parts[0] if parts else pd.Series("", index=head.index[mask])
        for p in parts[1:]:
            text = text + " " + p
        out[mask] = (event + " " + text).str.replace("state=TCP_", "state=", regex=False)
    return out


#: `abortscope record --syscalls kernel` names each socket of the port (capture.recorders.socket_map)
_SOCKET_LINE = re.compile(r"^# abortscope: socket (\S+) local=(\S+) remote=(\S+)$", re.M)


def _tie_by_socket_lines(rows: pd.DataFrame, text: str, flows: pd.DataFrame | None) -> None:
    """sock_send_length rows still untied, whose socket a ``# abortscope: socket`` line names: tied by its endpoints."""
    named = {token: (local, remote) for token, local, remote in _SOCKET_LINE.findall(text)}
    mask = ((rows["kind"] == EventKind.SEND_LENGTH.value) & (rows["flow"] == "") & rows["socket"].isin(list(named))).to_numpy()
    if not mask.any():
        return
    ends = rows.loc[mask, "socket"].map(named)
    flow, actor = tie(rows.loc[mask, "ts_ns"].to_numpy(np.int64), ends.str[0].reset_index(drop=True),
                      ends.str[1].reset_index(drop=True), flows)
    rows.loc[mask, "flow"] = flow
    rows.loc[mask, "actor"] = actor


def _tie_send_length(rows: pd.DataFrame, flows: pd.DataFrame | None, syscalls: pd.DataFrame | None) -> None:
    """sock_send_length carries no address: tie it through the write syscall of the same thread, then by socket.

    A row goes to the connection of the latest strace write of the same
    thread (within 5 ms before it); other rows with the same ``sk address``
    follow it. Rows from threads strace did not see stay untied: guessing
    from "the only connection" would pull in other sockets of the machine.
    """
    mask = (rows["kind"] == EventKind.SEND_LENGTH.value) & (rows["flow"] == "")
    if not mask.any() or syscalls is None or not len(syscalls) or "pid" not in syscalls:
        return
    writes = syscalls[syscalls["kind"].isin([EventKind.WRITE.value, EventKind.WRITE_ERROR.value]) & (syscalls["flow"] != "")]
    writes = writes.loc[writes["pid"].notna(), ["ts_ns", "pid", "flow", "actor"]]
    writes = writes.astype({"pid": "int64", "flow": object, "actor": object}).sort_values("ts_ns")
    events = rows.loc[mask, ["ts_ns", "pid"]].reset_index().sort_values("ts_ns")
    hit = pd.merge_asof(events, writes, on="ts_ns", by="pid", direction="backward", tolerance=5_000_000)
    hit = hit[hit["flow"].notna()]
    rows.loc[hit["index"].to_numpy(), "flow"] = hit["flow"].to_numpy()
    rows.loc[hit["index"].to_numpy(), "actor"] = hit["actor"].to_numpy()
    sockets = rows.loc[hit["index"].to_numpy(), "socket"].dropna()
    by_socket = dict(zip(sockets, rows.loc[sockets.index, "flow"]))
    actor_by_socket = dict(zip(sockets, rows.loc[sockets.index, "actor"]))
    rest = (rows["kind"] == EventKind.SEND_LENGTH.value) & (rows["flow"] == "") & rows["socket"].isin(list(by_socket))
    if flows is not None and {"first_ts_ns", "last_ts_ns"} <= set(flows.columns):
        # The kernel reuses a socket's address once it is freed: only the connection's own
        # lifetime (first to last packet) ties by address, or another program's send joins it.
        flow_of = rows.loc[rest, "socket"].map(by_socket).astype(object)
        first = pd.to_numeric(flow_of.map(dict(zip(flows["flow"], flows["first_ts_ns"]))), errors="coerce")
        last = pd.to_numeric(flow_of.map(dict(zip(flows["flow"], flows["last_ts_ns"]))), errors="coerce")
        ts = pd.to_numeric(rows.loc[rest, "ts_ns"])
        rest.loc[rest] = ((ts >= first) & (ts <= last)).to_numpy()
    rows.loc[rest, "actor"] = rows.loc[rest, "socket"].map(actor_by_socket)
    rows.loc[rest, "flow"] = rows.loc[rest, "socket"].map(by_socket)
