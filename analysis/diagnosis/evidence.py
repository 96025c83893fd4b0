"""The evidence of a diagnosis: which timeline rows prove it, found for every connection at once.

An evidence item is one timeline row with a :class:`Label` saying what it
shows. Items on the wire are close facts the TCP layer already computed
(analysis.tcp.facts: first FIN, late data, RST answer, ...); the others are
found here in the non-packet rows of the timeline (kernel tracepoints,
syscalls, application events) with masks over all rows and one first (or
last, or nearest) row per connection, never a filter per connection.

:data:`EVIDENCE` says where each item lives in the connection table
(analysis.schema.connections), so that a row of that table gives back the
items (:func:`items_of`) when a connection is explained in words.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.errnos import TRANSIENT
from analysis.events._columns import null_strings, string_arrow, strings_from_codes
from analysis.schema import EventKind, Source
from analysis.tcp import sides

#: Kernel events belong to the first RST when within 20 ms of it (clock offsets are µs-accurate).
NEAR_NS = 20_000_000


class Label(StrEnum):
    """What an evidence row shows."""

    FIN = "fin"  # the first FIN (the closer's)
    LATE_DATA = "late_data"  # the writer's first payload after that FIN
    RST_ANSWER = "rst_answer"  # the closer's RST answering it
    FIRST_RST = "first_rst"
    HALF_CLOSE = "half_close"  # the closer acknowledging the late payload
    WRITER_FIN = "writer_fin"  # the writer's own FIN
    RST_REASON = "rst_reason"  # kernel: tcp_send_reset of the first RST
    STATE_AT_RST = "state_at_rst"  # kernel: the receiver's socket going to CLOSE
    SK_ERROR = "sk_error"  # kernel: the error reported on the receiver's socket
    SYSCALL_ERROR = "syscall_error"  # calls_source: the first call failing with a connection error
    WRITE_ERROR = "write_error"  # calls_source: the first failing write
    WRITE_AFTER_FIN = "write_after_fin"  # calls_source: the writer's first successful write after the FIN
    READ_EOF = "read_eof"  # strace: a read returning 0
    APP_ERROR = "app_error"  # the application's first error
    APP_ABORT = "app_abort"  # the writer's application noticing the peer had gone
    APP_WRITE = "app_write"  # the application's last successful write
    APP_RESPONSE = "app_response"  # the writer's application saying its handler returned


@dataclass(frozen=True)
class Evidence:
    """One timeline row that proves part of a diagnosis."""

    label: Label
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
class Where:
    """Where one evidence item lives in the connection table. Column names may hold ``{closer}``/``{writer}``,
    filled with the row's sides; ``actor`` is a column or one of the roles closer, writer, receiver (of the
    first RST); ``detail`` is a template over the row."""

    label: Label
    source: Source
    kind: str
    ts: str
    actor: str
    frame: str | None = None
    errno: str | None = None
    length: str | None = None
    detail: str | None = None
    kind_column: str | None = None  # when the kind varies from row to row
    source_column: str | None = None  # when the source varies from row to row (a Source value; null: ``source``)


EVIDENCE: tuple[Where, ...] = (
    Where(Label.FIN, Source.PACKET, "FIN", "first_fin_ts_ns", "first_fin_by", frame="first_fin_frame"),
    Where(Label.LATE_DATA, Source.PACKET, "DATA", "data_after_fin_ts_ns", "data_after_fin_by",
          frame="data_after_fin_frame", length="data_after_fin_len"),
    Where(Label.RST_ANSWER, Source.PACKET, "RST", "rst_answer_ts_ns", "closer", frame="rst_answer_frame"),
    Where(Label.FIRST_RST, Source.PACKET, "RST", "first_rst_ts_ns", "first_rst_by", frame="first_rst_frame"),
    Where(Label.HALF_CLOSE, Source.PACKET, "ACK", "half_close_ts_ns", "half_close_by", frame="half_close_frame"),
    Where(Label.WRITER_FIN, Source.PACKET, "FIN", "fin_ts_ns_{writer}", "writer", frame="fin_frame_{writer}"),
    Where(Label.RST_REASON, Source.KERNEL, EventKind.RST_SENT, "rst_reason_ts_ns", "first_rst_by",
          detail="reason={rst_reason}"),
    Where(Label.STATE_AT_RST, Source.KERNEL, EventKind.STATE, "state_at_rst_ts_ns", "receiver",
          detail="{state_at_rst}->CLOSE"),
    Where(Label.SK_ERROR, Source.KERNEL, EventKind.SK_ERROR, "sk_error_ts_ns", "receiver", errno="sk_error_errno",
          detail="{sk_error_detail}"),
    Where(Label.SYSCALL_ERROR, Source.SYSCALL, EventKind.WRITE_ERROR, "syscall_error_ts_ns", "syscall_error_by",
          errno="syscall_error_errno", detail="{syscall_error_call}", kind_column="syscall_error_kind",
          source_column="calls_source"),
    Where(Label.WRITE_ERROR, Source.SYSCALL, EventKind.WRITE_ERROR, "write_error_ts_ns", "write_error_by",
          errno="write_error_errno", detail="{write_error_call}", source_column="calls_source"),
    Where(Label.WRITE_AFTER_FIN, Source.SYSCALL, EventKind.WRITE, "write_after_fin_ts_ns", "writer",
          length="write_after_fin_len", detail="{write_after_fin_call}", source_column="calls_source"),
    Where(Label.READ_EOF, Source.SYSCALL, EventKind.READ_EOF, "read_eof_ts_ns", "read_eof_by"),
    Where(Label.APP_ERROR, Source.APP, EventKind.WRITE_ERROR, "app_error_ts_ns", "app_error_by",
          errno="app_error_errno", detail="{app_error_text}"),
    Where(Label.APP_ABORT, Source.APP, EventKind.ABORT, "app_abort_ts_ns", "writer", length="app_abort_len",
          detail="{app_abort_text}"),
    Where(Label.APP_WRITE, Source.APP, EventKind.WRITE, "app_write_ts_ns", "app_write_by", length="app_write_len"),
    Where(Label.APP_RESPONSE, Source.APP, EventKind.RESPONSE, "app_response_ts_ns", "writer",
          detail="{app_response_text}"),
)
assert {w.label for w in EVIDENCE} == set(Label), "every evidence label has a place in the connection table"


def items_of(row: dict) -> dict[Label, Evidence]:
    """The evidence items of one connection-table row (a dict), for the sentences and the plots."""
    roles = {"closer": row["closer"], "writer": row["writer"],
             "receiver": {"client": "server", "server": "client"}.get(_value(row, "first_rst_by"))}
    found = {}
    for where in EVIDENCE:
        ts = _value(row, where.ts.format(**roles))
        if ts is None:
            continue
        actor = roles[where.actor] if where.actor in roles else _value(row, where.actor)
        frame = _value(row, where.frame.format(**roles)) if where.frame else None
        length = _value(row, where.length) if where.length else None
        found[where.label] = Evidence(
            label=where.label, source=_value(row, where.source_column) or where.source.value, ts_ns=int(ts),
            t_rel=(int(ts) - int(row["first_ts_ns"])) / 1e9,
            actor=actor, kind=str(_value(row, where.kind_column) or where.kind) if where.kind_column else str(where.kind),
            frame=None if frame is None else int(frame), errno=_value(row, where.errno) if where.errno else None,
            length=None if length is None else int(length),
            detail=_filled(where.detail, row))
    return found


def _filled(template: str | None, row: dict) -> str | None:
    """``template`` filled from the row's columns; None when it has none or one of them is null."""
    if template is None:
        return None
    values = {name: _value(row, name) for _, name, _, _ in string.Formatter().parse(template) if name}
    return None if None in values.values() else template.format_map(values)


def _value(row: dict, name: str | None):
    value = row.get(name) if name else None
    return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value


# -- found for every connection at once -----------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Per connection (table row), what the search needs: -1 / no value where there is none."""

    first_fin_ts: np.ndarray  # int64, the closer's FIN
    first_rst_ts: np.ndarray  # int64
    first_rst_by: np.ndarray  # side codes
    writer: np.ndarray  # side codes


def find(events: pd.DataFrame, row_of_event: np.ndarray, context: Context) -> dict[str, object]:
    """Evidence columns (analysis.schema.connections) from the non-packet timeline rows ``events``.

    ``events``: timeline rows (any sources; packets are ignored), in timeline
    order; ``row_of_event``: for each, the row of its connection in the table
    (-1: none). Returns column name -> array with one value per table row,
    plus ``_seen_syscall``, ``_seen_app`` (the writer's application),
    ``_syscall_epipe`` and ``_syscall_econnreset`` (booleans the signals read).
    """
    n = len(context.writer)
    rows = _Rows(events, row_of_event)
    out: dict[str, object] = {}
    out.update(_kernel(rows, context, n))
    out.update(_syscalls(rows, context, n))
    out.update(_app(rows, context, n))
    return out


class _Rows:
    """The tied non-packet rows' columns, taken once: numbers as numpy, text as Arrow (taken from by row)."""

    def __init__(self, events: pd.DataFrame, row_of_event: np.ndarray):
        source = events["source"].astype(str).to_numpy(object)
        keep = np.flatnonzero((row_of_event >= 0) & (source != Source.PACKET.value))
        rows = events.take(keep)
        self.n = len(keep)
        self.conn = row_of_event[keep]
        self.source = source[keep]
        self.ts = rows["ts_ns"].to_numpy(np.int64)
        self.kind = rows["kind"].astype(str).to_numpy(object)
        self.actor = sides.codes(rows["actor"])
        self.has_errno = rows["errno"].notna().to_numpy(bool)
        self.errno = rows["errno"].astype("string").to_numpy(object, na_value=None)
        self.length = rows["len"].to_numpy("float64", na_value=np.nan)
        self.text = {name: string_arrow(rows[name].astype("string")) for name in ("kind", "errno", "detail")}
        # the kernel's sock_send_length is a send's result: a write, failed when it carries an errno
        self.send = self.of(Source.KERNEL) & (self.kind == EventKind.SEND_LENGTH.value)
        failed = np.where(self.has_errno, EventKind.WRITE_ERROR.value, EventKind.WRITE.value)
        self.call_kind = np.where(self.send, failed, self.kind)
        self.text["call_kind"] = string_arrow(pd.Series(self.call_kind, dtype="string"))
        self.detail_ends_in_close = rows["detail"].astype("string").str.endswith("->CLOSE").fillna(False).to_numpy(bool)

    def of(self, source: Source) -> np.ndarray:
        return self.source == source.value

    def take_first(self, mask: np.ndarray, n: int) -> np.ndarray:
        """Per table row: the index (into these rows) of the first row where mask holds; -1 where none."""
        picked = np.flatnonzero(mask)
        out = np.full(n, self.n, dtype=np.int64)
        np.minimum.at(out, self.conn[picked], picked)
        out[out == self.n] = -1
        return out

    def take_last(self, mask: np.ndarray, n: int) -> np.ndarray:
        picked = np.flatnonzero(mask)
        out = np.full(n, -1, dtype=np.int64)
        np.maximum.at(out, self.conn[picked], picked)
        return out

    def any(self, mask: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(self.conn[mask], minlength=n) > 0

    # -- the picked rows' values as table columns (null where no row was picked) --
    def _at(self, values: np.ndarray, picked: np.ndarray, missing) -> np.ndarray:
        return np.where(picked >= 0, values[np.maximum(picked, 0)], missing) if self.n else np.full(len(picked), missing)

    def ts_at(self, picked: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(self._at(self.ts, picked, 0).astype(np.int64), picked < 0)

    def len_at(self, picked: np.ndarray) -> pd.arrays.IntegerArray:
        length = self._at(self.length, picked, np.nan)
        return pd.arrays.IntegerArray(np.nan_to_num(length).astype(np.int64), np.isnan(length))

    def text_at(self, name: str, picked: np.ndarray) -> pd.arrays.ArrowStringArray:
        if not self.n:
            return null_strings(len(picked))
        return pd.arrays.ArrowStringArray(self.text[name].take(pa.array(picked, mask=picked < 0)))

    def side_at(self, picked: np.ndarray) -> pd.arrays.ArrowStringArray:
        return sides.names(self._at(self.actor, picked, sides.NONE))


def _kernel(rows: _Rows, ctx: Context, n: int) -> dict[str, object]:
    """The kernel's view of the first RST: its reason, the receiver's state, the error reported."""
    has_rst = ctx.first_rst_ts >= 0
    rst_ts = ctx.first_rst_ts[rows.conn]
    near = rows.of(Source.KERNEL) & has_rst[rows.conn] & (np.abs(rows.ts - rst_ts) <= NEAR_NS)
    sender, receiver = ctx.first_rst_by[rows.conn], sides.other(ctx.first_rst_by)[rows.conn]
    # the RST's own tcp_send_reset: the nearest in time (the first of equals)
    sent = np.flatnonzero(near & (rows.kind == EventKind.RST_SENT.value) & (rows.actor == sender))
    sent = sent[np.lexsort((sent, np.abs(rows.ts[sent] - rst_ts[sent]), rows.conn[sent]))]
    leads = np.ones(len(sent), dtype=bool)
    leads[1:] = rows.conn[sent[1:]] != rows.conn[sent[:-1]]
    nearest = np.full(n, -1, dtype=np.int64)
    nearest[rows.conn[sent[leads]]] = sent[leads]
    closing = near & (rows.kind == EventKind.STATE.value) & (rows.actor == receiver) & rows.detail_ends_in_close
    state = rows.take_first(closing, n)
    error = rows.take_first(near & (rows.kind == EventKind.SK_ERROR.value) & (rows.actor == receiver), n)
    return {
        "rst_reason": pd.Series(rows.text_at("detail", nearest)).str.extract(r"reason=(\S+)", expand=False).array,
        "rst_reason_ts_ns": rows.ts_at(nearest),
        "state_at_rst": pd.Series(rows.text_at("detail", state)).str.split("->").str[0].astype("string").array,
        "state_at_rst_ts_ns": rows.ts_at(state),
        "sk_error_errno": rows.text_at("errno", error),
        "sk_error_detail": rows.text_at("detail", error),
        "sk_error_ts_ns": rows.ts_at(error),
    }


_FAILED = np.array([EventKind.WRITE_ERROR.value, EventKind.READ_ERROR.value], dtype=object)


def _syscalls(rows: _Rows, ctx: Context, n: int) -> dict[str, object]:
    """The calls' evidence: strace's calls; for a connection strace did not see, the kernel's sock_send_length
    results (sends only: no reads). ``calls_source`` says which (a Source value)."""
    syscall = rows.of(Source.SYSCALL)
    straced = rows.any(syscall, n)
    sends = rows.send & ~straced[rows.conn]
    calls, kind, errno = syscall | sends, rows.call_kind, rows.errno
    failing = calls & np.isin(kind, _FAILED) & rows.has_errno & ~np.isin(errno, list(TRANSIENT))
    first_error = rows.take_first(failing, n)
    write_error = rows.take_first(failing & (kind == EventKind.WRITE_ERROR.value), n)
    fin_ts = ctx.first_fin_ts[rows.conn]
    after_fin = (fin_ts >= 0) & (rows.ts > fin_ts)
    write_after_fin = rows.take_first(calls & (kind == EventKind.WRITE.value) & after_fin
                                      & (rows.actor == ctx.writer[rows.conn]), n)
    eof = rows.take_first(syscall & (rows.kind == EventKind.READ_EOF.value), n)
    traced = [rows.any(syscall & (rows.actor == side), n) for side in (sides.CLIENT, sides.SERVER)]
    source = np.select([straced, rows.any(sends, n)], [0, 1], -1)
    return {
        "syscall_seen_by": strings_from_codes(np.select([traced[0] & traced[1], traced[0], traced[1]], [2, 0, 1], -1),
                                              ("client", "server", "both")),
        "calls_source": strings_from_codes(source, (Source.SYSCALL.value, Source.KERNEL.value)),
        "syscall_error_ts_ns": rows.ts_at(first_error),
        "syscall_error_kind": rows.text_at("call_kind", first_error),
        "syscall_error_errno": rows.text_at("errno", first_error),
        "syscall_error_call": rows.text_at("detail", first_error),
        "syscall_error_by": rows.side_at(first_error),
        "write_error_ts_ns": rows.ts_at(write_error),
        "write_error_errno": rows.text_at("errno", write_error),
        "write_error_call": rows.text_at("detail", write_error),
        "write_error_by": rows.side_at(write_error),
        "write_after_fin_ts_ns": rows.ts_at(write_after_fin),
        "write_after_fin_len": rows.len_at(write_after_fin),
        "write_after_fin_call": rows.text_at("detail", write_after_fin),
        "read_eof_ts_ns": rows.ts_at(eof),
        "read_eof_by": rows.side_at(eof),
        "_seen_syscall": straced,
        "_syscall_epipe": rows.any(failing & (errno == "EPIPE"), n),
        "_syscall_econnreset": rows.any(failing & (errno == "ECONNRESET"), n),
    }


def _app(rows: _Rows, ctx: Context, n: int) -> dict[str, object]:
    app = rows.of(Source.APP)
    writers = app & (rows.actor == ctx.writer[rows.conn])
    error = rows.take_first(app & (rows.has_errno | np.isin(rows.kind, _FAILED)), n)
    abort = rows.take_first(writers & (rows.kind == EventKind.ABORT.value), n)
    write = rows.take_last(app & (rows.kind == EventKind.WRITE.value) & ~rows.has_errno, n)
    response = rows.take_first(writers & (rows.kind == EventKind.RESPONSE.value), n)
    return {
        "app_error_ts_ns": rows.ts_at(error),
        "app_error_errno": rows.text_at("errno", error),
        "app_error_text": rows.text_at("detail", error),
        "app_error_by": rows.side_at(error),
        "app_abort_ts_ns": rows.ts_at(abort),
        "app_abort_text": rows.text_at("detail", abort),
        "app_abort_len": rows.len_at(abort),
        "app_write_ts_ns": rows.ts_at(write),
        "app_write_len": rows.len_at(write),
        "app_write_by": rows.side_at(write),
        "app_response_ts_ns": rows.ts_at(response),
        "app_response_text": rows.text_at("detail", response),
        "_seen_app": rows.any(writers, n),
    }
