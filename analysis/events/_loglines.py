"""What the server-log parsers share (nginx, Python, Node, Java, a user's regex): lines in, timeline rows out.

Each format module turns its lines into a table of *events* (one row per
line that says something about a connection), with the columns of
:data:`EVENT_COLUMNS`; :func:`rows` does the rest the same way for all:

- **time**: ``ts_ns`` as the line says it (NO_TIME when it says none); when
  the bundle recorded the lines' arrival (``ctx.arrival_ns``) a line with no
  time takes its arrival, and a line whose own time is coarse (``ts_res_ns``,
  nginx: 1 s) takes its arrival when that lies within ``[own, own + res + 1 s]``
  (the line was written then; arrival is more precise). A line with neither
  is damaged: skipped and counted.
- **kind**: from the errno, by :data:`KIND_OF_OP` when the line says which
  call failed (``writev() failed``, ``write EPIPE``), else by
  :data:`KIND_OF_ERRNO`; lines with no errno keep the kind the format gave.
- **connection**: a line naming an endpoint ``ip:port`` is tied exactly
  (events._tie); a line naming the peer's address alone (nginx ``client:
  127.0.0.1``) is tied by :func:`analysis.events._infer.by_address`, and its
  detail says the tie is inferred.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis import clock, errnos
from analysis.events._infer import INFERRED_NOTE, by_address
from analysis.events._lines import count_bad
from analysis.events._tie import tie
from analysis.events.context import ParseContext
from analysis.events.strace import SYSCALL_KINDS
from analysis.schema import EventKind, Source, conform, empty

#: one row per event line; ``line`` is its 0-based line number in the text
EVENT_COLUMNS = ("line", "ts_ns", "ts_res_ns", "kind", "errno", "op", "local", "remote", "address", "group", "detail")
#: calls a log may name that are not syscalls (Python's socket and file methods, OpenSSL's) -> kind
LIBRARY_CALLS = {**{op: EventKind.WRITE_ERROR.value for op in ("sendall", "SSL_write", "flush")},
                 **{op: EventKind.READ_ERROR.value for op in ("SSL_read", "readinto", "recv_into", "readline")}}
#: the failing call named by the line -> kind: a read or write syscall as the strace table has it, or a library call
KIND_OF_OP = {**{name: kind.error.value for name, kind in SYSCALL_KINDS.items()
                 if kind.error in (EventKind.WRITE_ERROR, EventKind.READ_ERROR)}, **LIBRARY_CALLS}
#: no call named: the errno says which side of the socket most likely failed
KIND_OF_ERRNO = {"EPIPE": EventKind.WRITE_ERROR.value, "ECONNRESET": EventKind.READ_ERROR.value,
                 "ECONNABORTED": EventKind.READ_ERROR.value, "ETIMEDOUT": EventKind.READ_ERROR.value}
#: `ip:port`, `[v6]:port`, Python's `('ip', port)`
ENDPOINT = re.compile(r"\(\s*'(?P<pyhost>[0-9a-fA-F:.]+)'\s*,\s*(?P<pyport>\d+)[^)]*\)|(?P<host>\[[0-9a-fA-F:]+\]|"
                      r"\b\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{1,5})\b")
MAX_LATE_ARRIVAL_NS = 1_000_000_000


def endpoint_in(text: str) -> str | None:
    """The first endpoint a text names, as ``ip:port`` (None when it names none)."""
    match = ENDPOINT.search(text or "")
    if match is None:
        return None
    if match.group("pyhost"):
        host, port = match.group("pyhost"), match.group("pyport")
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{match.group('host')}:{match.group('port')}"


def errno_in(text: str) -> str | None:
    """An errno named by a log text: ``(32: Broken pipe)``, ``[Errno 104]``, ``EPIPE``, or a strerror ending."""
    if not text:
        return None
    numbered = re.search(r"\((\d+): [^)]*\)", text)
    if numbered:
        return errnos.name_of(int(numbered.group(1)))
    named = re.search(r"\b(E[A-Z]{3,})\b", text)
    if named and errnos.number_of(named.group(1)) is not None:
        return named.group(1)
    return errnos.from_message(text)


ZONED = r"(?:Z|[+-]\d{2}:?\d{2})$"
DECIMAL_COMMA = r"(?<=:\d{2}),(?=\d)"  # 12:00:00,123


def wall_to_ns(texts: pd.Series, fmt: str | None, tz: str | None) -> np.ndarray:
    """Time texts in ``fmt`` (strptime; None: ISO 8601, a decimal comma after the seconds allowed, as Python's
    logging and Java write it) -> epoch ns; texts that carry no zone (no ``Z``/``+hh:mm`` at their end) are in
    ``tz`` (UTC when None); NO_TIME where a text is no time. A text ``fmt`` describes is read as it is."""
    texts = pd.Series(texts, dtype=object).astype(str).reset_index(drop=True)
    if fmt is None:
        texts = texts.str.replace(DECIMAL_COMMA, ".", regex=True)
    out = np.full(len(texts), clock.NO_TIME, dtype=np.int64)
    zoned = texts.str.contains(ZONED, regex=True).to_numpy(bool)
    for mask, utc in ((zoned, True), (~zoned, False)):
        if not mask.any():
            continue
        stamps = pd.to_datetime(texts[mask], format=fmt or "ISO8601", errors="coerce", utc=utc)
        if not utc:
            stamps = stamps.dt.tz_localize(clock.checked_zone(tz or "UTC"), ambiguous="NaT", nonexistent="NaT")
        ns = stamps.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
        ok = ns.notna().to_numpy()
        out[np.flatnonzero(mask)[ok]] = ns[ok].astype("int64").to_numpy()
    return out


def matching_lines(text: str, line: re.Pattern) -> tuple[list[tuple[int, re.Match]], list[int]]:
    """(line number and match of every line ``line`` matches, numbers of the other non-blank lines: damaged)."""
    found, damaged = [], []
    for number, text_line in enumerate(text.splitlines()):
        match = line.match(text_line)
        if match is not None:
            found.append((number, match))
        elif text_line.strip():
            damaged.append(number)
    return found, damaged


def timed_rows(records: list[dict], time_format: str, ctx: ParseContext, damaged: list[int]) -> pd.DataFrame:
    """rows() of events whose times are the ``ts_text`` of each record, in ``time_format`` (zone-less: ``ctx.tz``)."""
    events = events_frame(records)
    if records:
        events["ts_ns"] = wall_to_ns(pd.Series([r["ts_text"] for r in records]), time_format, ctx.tz)
    return rows(events, ctx, damaged)


def empty_events() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in EVENT_COLUMNS})


def events_frame(records: list[dict]) -> pd.DataFrame:
    """The events table from one dict per event line (missing keys: None)."""
    if not records:
        return empty_events()
    return pd.DataFrame([{name: record.get(name) for name in EVENT_COLUMNS} for record in records])


def rows(events: pd.DataFrame, ctx: ParseContext, damaged_lines: np.ndarray | None = None) -> pd.DataFrame:
    """Timeline rows (source ``app``) from a format's events table (module docstring)."""
    if damaged_lines is not None and len(damaged_lines):
        count_bad(ctx.lines, np.ones(len(damaged_lines), bool), np.asarray(damaged_lines, dtype=np.int64))
    if events.empty:
        return empty()
    events = events.reset_index(drop=True)
    ts_ns, precise = _placed(events, ctx.arrival_ns)
    events["ts_res_ns"] = events["ts_res_ns"].where(~precise, 0)
    placed = ts_ns != clock.NO_TIME
    count_bad(ctx.lines, ~placed, events["line"].to_numpy(np.int64))
    events, ts_ns = events[placed].reset_index(drop=True), ts_ns[placed]
    errno = events["errno"].astype(object)
    by_op = events["op"].map(KIND_OF_OP)
    by_errno = errno.map(KIND_OF_ERRNO)
    base = events["kind"].where(events["kind"].notna(), EventKind.LOG.value)
    failed = by_op.where(by_op.notna(), by_errno)
    failed = failed.where(failed.notna(), base.where(base != EventKind.LOG.value, EventKind.READ_ERROR.value))
    kind = failed.where(errno.notna(), base)
    detail = events["detail"].astype(object)
    flow, side = tie(ts_ns, events["local"], events["remote"], ctx.flows)
    loose = (flow == "") & events["address"].notna().to_numpy()
    if loose.any():
        inferred = by_address(ts_ns[loose], events["ts_res_ns"][loose], events["address"][loose],
                              events["group"][loose], kind[loose], ctx.flows)
        flow[loose] = inferred
        tied = loose & (flow != "")
        side[tied] = np.where(kind.to_numpy()[tied] == EventKind.ABORT.value, "client", "server")  # a 499: the client
        detail = detail.where(~tied, detail + INFERRED_NOTE)
    out = pd.DataFrame({"ts_ns": ts_ns, "kind": kind.to_numpy(), "errno": errno.to_numpy(),
                        "detail": detail.to_numpy(), "flow": flow})
    out["actor"] = np.where(pd.notna(side), side, ctx.actor)
    out["source"] = Source.APP.value
    return conform(out)


def _placed(events: pd.DataFrame, arrival_ns) -> tuple[np.ndarray, np.ndarray]:
    """(each event's time, whether it is its arrival)."""
    own = pd.to_numeric(events["ts_ns"], errors="coerce").fillna(clock.NO_TIME).to_numpy(np.int64)
    if arrival_ns is None or not len(arrival_ns):
        return own, np.zeros(len(own), bool)
    arrival = np.asarray(arrival_ns, dtype=np.int64)
    line = events["line"].to_numpy(np.int64)
    known = line < len(arrival)
    came = np.where(known, arrival[np.minimum(line, len(arrival) - 1)], clock.NO_TIME)
    res = pd.to_numeric(events["ts_res_ns"], errors="coerce").fillna(0).to_numpy(np.int64)
    has_own = own != clock.NO_TIME
    within = has_own & known & (came >= own) & (came <= own + res + MAX_LATE_ARRIVAL_NS)
    by_arrival = (~has_own & known) | within
    return np.where(by_arrival, came, own), by_arrival
