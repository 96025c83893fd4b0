"""The timeline schema: the one contract every event source is checked against.

Every row of the timeline is one event seen by one observer (the wire, the
syscall tracer, the kernel's tracepoints, the application) at one instant.
The column names below are a public contract: the CSV/JSON/Parquet exports
use them verbatim, the plots read them, and the README documents them from
this table (``python -m analysis.schema`` prints it as markdown, with the
connection table's, analysis.schema.connections).

Rules:
- time is ``int64`` nanoseconds since the Unix epoch (``ts_ns``); every
  source converts its own clock to that before it reaches the merge
  (see :mod:`analysis.clock`);
- ``flow`` names a connection as ``client_ip:port>server_ip:port``, IPv6 in
  brackets, and ``conn`` numbers it (the connection table's key); rows whose
  connection is unknown have an empty flow and a null conn;
- ``actor`` is the side that *did* the thing (sent the packet, made the
  syscall, owns the socket that changed state, logged the error).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from analysis.schema.columns import Column, SchemaError, check
from analysis.schema.columns import markdown_table as _markdown


class Source(StrEnum):
    """Which observer recorded the event."""

    PACKET = "packet"
    SYSCALL = "syscall"
    KERNEL = "kernel"
    APP = "app"


class Actor(StrEnum):
    CLIENT = "client"
    SERVER = "server"


class PacketKind(StrEnum):
    """What a TCP segment *is*, most significant flag first (RST > FIN > SYN > data > ACK)."""

    SYN = "SYN"
    SYN_ACK = "SYN-ACK"
    ACK = "ACK"
    DATA = "DATA"
    FIN = "FIN"
    RST = "RST"


class EventKind(StrEnum):
    """Kinds for the non-packet sources (syscall, kernel, app)."""

    WRITE = "write"  # bytes handed to the kernel (or to the app's writer) successfully
    WRITE_ERROR = "write_error"  # a write that failed; errno says how
    READ = "read"
    READ_EOF = "read_eof"  # a read returned 0: the peer's FIN reached the app
    READ_ERROR = "read_error"
    CLOSE = "close"
    SHUTDOWN = "shutdown"
    ACCEPT = "accept"
    CONNECT = "connect"
    SIGNAL = "signal"
    STATE = "state"  # kernel: socket state change (detail: OLD->NEW)
    RST_SENT = "rst_sent"  # kernel: this side sent a RST (detail: reason)
    RST_RECEIVED = "rst_received"  # kernel: this side received a RST
    SK_ERROR = "sk_error"  # kernel: socket error reported (errno)
    SEND_LENGTH = "send_length"  # kernel: sock_send_length (bytes or -errno)
    REQUEST = "request"  # app: request received / sent
    RESPONSE = "response"  # app: response complete
    ABORT = "abort"  # app/client: the client gave up (SIGINT, close, abort())
    LOG = "log"  # app: any other log line


#: The timeline columns, in export order. Nullable integers use pandas' ``Int64``.
TIMELINE_COLUMNS: tuple[Column, ...] = (
    Column("ts_ns", "int64", False, "ns since the Unix epoch",
           "When the observer saw the event. Packets: the capture timestamp "
           "(at the capture point, not at either host's socket). Syscalls: strace's "
           "entry time. Kernel: the tracepoint time mapped to realtime with the "
           "offset recorded in meta.json."),
    Column("t_rel", "float64", False, "s",
           "Seconds since the first packet of this row's flow (since the first event "
           "of the timeline when the flow has no packets)."),
    Column("flow", "string", False, "",
           "Connection id `client_ip:port>server_ip:port` (IPv6 in brackets); empty "
           "when the event could not be tied to a connection."),
    Column("conn", "Int64", True, "",
           "Connection number: 0, 1, ... in order of the connections' first packets; the key of the "
           "connection table (`Timeline.connections`). Null when `flow` is empty."),
    Column("source", "category", False, "", "packet | syscall | kernel | app"),
    Column("actor", "category", True, "",
           "client | server: who did it. Null when the side is unknown (no SYN seen "
           "and no port heuristic applied)."),
    Column("pid", "Int64", True, "",
           "The thread (strace, tracefs) or process (app events) behind the event; null for packets. A kernel "
           "row's is the task that happened to run: on loopback a RST is often traced in the peer's softirq."),
    Column("kind", "category", False, "",
           "Packets: SYN, SYN-ACK, ACK, DATA, FIN, RST. Others: see EventKind "
           "(write, write_error, read_eof, state, rst_sent, rst_received, sk_error, ...)."),
    Column("frame", "Int64", True, "", "1-based frame number in the capture file "
           "(as tshark's frame.number); null for non-packet rows. A capture read from several files "
           "(analysis.stream.files) numbers on across them, in capture order: in its own file, the frame is "
           "this minus the frames of the files before it (`Timeline.files`)."),
    Column("file", "category", True, "",
           "The capture file the packet came from: its path relative to the folder all the files share "
           "(just its name for a single file); null for non-packet rows."),
    Column("flags", "string", True, "",
           "tcpdump-style TCP flags: S, S., ., P., F., FP., R, R. ..."),
    Column("seq", "Int64", True, "bytes",
           "Sequence number relative to the sender's ISN (SYN = 0); raw when no SYN was seen."),
    Column("ack", "Int64", True, "bytes", "Acknowledgement relative to the peer's ISN; null without ACK flag."),
    Column("seq_raw", "Int64", True, "", "Sequence number as on the wire."),
    Column("ack_raw", "Int64", True, "", "Acknowledgement number as on the wire."),
    Column("len", "Int64", True, "bytes",
           "Packets: TCP payload length from the IP header (tshark's tcp.len), even "
           "when the snaplen cut the payload. Syscalls/app: bytes written or read."),
    Column("errno", "string", True, "", "Symbolic errno (EPIPE, ECONNRESET, ...) for failures."),
    Column("detail", "string", True, "",
           "Free text: the syscall line, the RST reason, OLD->NEW state, the app's "
           "error text."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in TIMELINE_COLUMNS)
_DTYPES = {c.name: c.dtype for c in TIMELINE_COLUMNS}
_CATEGORIES = {
    "source": [s.value for s in Source],
    "actor": [a.value for a in Actor],
}


def empty() -> pd.DataFrame:
    """A timeline with no rows and every column typed."""
    return conform(pd.DataFrame({name: [] for name in COLUMN_NAMES}))


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns, in order, with their dtypes.

    Missing nullable columns are added as nulls; a missing non-nullable column
    (other than ``t_rel``, which the merge computes) is an error.
    """
    out = {}
    n = len(frame)
    for col in TIMELINE_COLUMNS:
        if col.name in frame.columns:
            values = frame[col.name]
        elif col.nullable or col.name == "t_rel":
            values = pd.Series([None] * n, index=frame.index, dtype="object")
        elif col.name == "flow":
            values = pd.Series([""] * n, index=frame.index)
        else:
            raise SchemaError(f"timeline rows lack the required column {col.name!r}")
        out[col.name] = _cast(values, col)
    return pd.DataFrame(out, index=frame.index)


def _cast(values: pd.Series, col: Column) -> pd.Series:
    if col.dtype == "category":
        cats = _CATEGORIES.get(col.name)
        if cats is None:
            return values.astype("string").astype("category")
        unknown = set(values.dropna().astype(str)) - set(cats)
        if unknown:
            raise SchemaError(f"column {col.name!r}: unknown values {sorted(unknown)}; allowed {cats}")
        return pd.Categorical(values.astype("object").where(values.notna(), None), categories=cats)
    if col.dtype == "float64":
        return pd.to_numeric(values, errors="raise").astype("float64")
    if col.dtype == "int64":
        if values.isna().any():
            raise SchemaError(f"column {col.name!r} may not be null")
        return values.astype(np.int64)
    return values.astype(col.dtype)


def validate(frame: pd.DataFrame) -> None:
    """Raise :class:`SchemaError` unless ``frame`` has exactly the schema's columns and dtypes."""
    check(frame, TIMELINE_COLUMNS, "timeline")


def markdown_table() -> str:
    """The timeline schema as a markdown table (for the README)."""
    return _markdown(TIMELINE_COLUMNS)
