"""The facts one probe's bundle holds: a view of one `analysis.load` of it.

    facts = read_facts(bundle_dir)                    # -> ProbeFacts (loads the bundle)
    facts = facts_of(load(bundle_dir, read=PROBE_READ), bundle_dir)   # of a Timeline loaded already

From the Timeline (PROBE_READ: the packets, strace and app.jsonl; not the
kernel's trace, which no fact needs, so a probe stays cheap):

    strace rows  the server's write syscalls, their errno, their time
    packets      the peer's FIN/RST and the server's payload bytes on the wire

Besides it, two small reads the Timeline cannot serve: app.jsonl's lines
(did the *application* see a write error, its own text: a timeline row's
detail is the error text or the line's detail, prefixed with the server's
name), and the response head's bytes (capture.sweep.wire: the packet table
keeps no payload).

A probe that cannot say whether the application saw an error is *failed*
(``failed`` says why): no request reached the server, no packet was
captured, the server crashed or its handler never finished. A failed probe
is run again, and never counts as "no error" (capture.sweep.pool).

The facts are read in the probe's run, from its private staging directory
(capture.scenario's ``after_run``), never back from the published bundle.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from analysis.bundle import SERVER_LOG, BundlePaths, is_bundle, read_meta
from analysis.errors import BundleError
from analysis.inputs import Read
from analysis.schema import EventKind, Source
from analysis.timeline import Timeline
from analysis.tcp.flags import BIT
from capture.servers.events import read_app_events
from capture.sweep.wire import measure_head

#: the count argument right after the buffer, as strace prints write/send/sendto:
#: `write(4<...>, "..."..., 4096) = -1 EPIPE`, `sendto(4<...>, "..."..., 151, 0, NULL, 0) = 151`
_ASKED = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?,\s*(\d+)')
WRITE_KINDS = (EventKind.WRITE.value, EventKind.WRITE_ERROR.value)
ERROR_KINDS = (EventKind.WRITE_ERROR.value, EventKind.READ_ERROR.value)
#: what a server's stderr shows when it (or one of its handler threads) crashed
CRASH_MARKERS = ("Traceback (most recent call last)", "Exception in thread", "panic: ")
#: the server's accept event says the send buffer it read back: "SO_SNDBUF=8192 (asked 4096)"
_SNDBUF = re.compile(r"SO_SNDBUF=(\d+)")
#: what a probe loads: every source a fact comes from, not the kernel's trace
PROBE_READ = Read(skip=frozenset({"kernel"}))


@dataclass(frozen=True)
class WriteCall:
    """One server write syscall: bytes asked, bytes written (None on failure), errno."""

    ts_ns: int
    asked: int | None
    written: int | None
    errno: str | None

    def text(self) -> str:
        size = self.asked if self.asked is not None else "?"
        return f"{size}={self.errno}" if self.errno else f"{size}={self.written}"


@dataclass(frozen=True)
class ProbeFacts:
    """What one harness run at one body size shows (a probe). Times are epoch ns."""

    size: int
    app_error: bool  #: the server application saw a failed write
    app_error_text: str | None = None
    app_errno: str | None = None  #: errno the application reported (None: e.g. Node's ERR_STREAM_DESTROYED)
    syscall_errnos: tuple[str, ...] = ()  #: errnos of the server's failed write/read syscalls, first-seen order
    read_errnos: tuple[str, ...] = ()  #: ... of its failed reads only (ECONNRESET: a background read took the RST)
    first_write_errno: str | None = None  #: errno of the first failed write syscall (EPIPE, ECONNRESET)
    bytes_before_error: int = 0  #: bytes the server's write syscalls accepted before the first failed one
    write_syscalls: int = 0  #: server write syscalls on TCP sockets
    writes_after_peer_close: tuple[str, ...] = ()  #: "asked=written|ERRNO" of each write after the peer's FIN/RST
    peer_close: str | None = None  #: "FIN" or "RST": how the client closed first (None: it did not)
    client_rst: bool = False  #: the client sent a RST at any point (its kernel answering late data)
    server_wire_bytes: int = 0  #: server TCP payload bytes in the capture
    failed_write_in_handler: bool | None = None  #: first failed write before the handler returned (None: no failure)
    handler_end_ns: int | None = None
    interrupted: bool = False
    failed: str | None = None  #: why this probe says nothing about the error (no request, no packets, a crash, ...)
    note: str | None = None  #: why facts are missing (a failed run, an unreadable file)
    head: dict | None = None  #: the response head measured from the capture (capture.sweep.wire.ResponseHead fields)
    sndbuf_effective: int | None = None  #: SO_SNDBUF the server read back (its accept event), when it logged one
    bundle: str = ""
    server_port: int | None = None
    elapsed_s: float = field(default=0.0, compare=False)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ProbeFacts":
        data = dict(data)
        for key in ("syscall_errnos", "read_errnos", "writes_after_peer_close"):
            data[key] = tuple(data.get(key) or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def read_facts(bundle_dir: Path, size: int | None = None) -> ProbeFacts:
    """The facts of one bundle (``size`` defaults to meta's scenario size); BundleError if it is none."""
    from analysis.api import load

    if not is_bundle(Path(bundle_dir)):
        raise BundleError(f"{bundle_dir}: not a run bundle (no meta.json)")
    return facts_of(load(bundle_dir, read=PROBE_READ), bundle_dir, size)


def facts_of(timeline: Timeline, bundle_dir: Path, size: int | None = None) -> ProbeFacts:
    """The facts of a bundle's loaded Timeline (read with PROBE_READ, or more)."""
    paths = BundlePaths(Path(bundle_dir))
    meta = read_meta(paths.root)
    size = int(meta.get("scenario", {}).get("size", 0) if size is None else size)
    port = meta.get("server", {}).get("port")
    events = read_app_events(paths.app, actor="server")
    app = _app_facts(events)
    syscalls = _syscalls(timeline.other_events)
    writes = _server_writes(syscalls)
    wire = _wire_facts(timeline.packets, port)
    packets = wire.pop("packets")
    # the head's bytes are payload, which the Timeline does not keep: the one read of the capture beside it
    head = measure_head(paths.capture, port) if port is not None and wire["server_wire_bytes"] else None
    failed = next((w for w in writes if w.errno), None)
    close_ns = wire.pop("peer_close_ns")
    after = [w for w in writes if close_ns is not None and w.ts_ns >= close_ns]
    return ProbeFacts(
        size=size,
        **app,
        syscall_errnos=_errnos(syscalls, ERROR_KINDS),
        read_errnos=_errnos(syscalls, (EventKind.READ_ERROR.value,)),
        first_write_errno=failed.errno if failed else None,
        bytes_before_error=sum(w.written or 0 for w in writes if failed is None or w.ts_ns < failed.ts_ns),
        write_syscalls=len(writes),
        writes_after_peer_close=tuple(w.text() for w in after),
        failed_write_in_handler=_before(failed, app["handler_end_ns"]),
        interrupted=bool(meta.get("interrupted")),
        failed=_failure(meta, events, packets, paths.root / SERVER_LOG),
        note=meta.get("reason"),
        bundle=str(paths.root),
        server_port=port,
        head=asdict(head) if head else None,
        sndbuf_effective=_sndbuf(events),
        **wire,
    )  # fmt: skip


def _failure(meta: dict, events: list[dict], packets: int, server_log: Path) -> str | None:
    """Why the probe cannot tell whether the application saw an error (None: it can)."""
    if meta.get("interrupted"):
        return f"the run was cut short: {meta.get('reason')}"
    log = server_log.read_text(errors="replace") if server_log.exists() else ""
    crash = next((marker for marker in CRASH_MARKERS if marker in log), None)
    if crash or meta.get("handler_wait") == "server exited":
        return "the server crashed: " + (log.strip().splitlines()[-1] if log.strip() else "it exited")
    if not packets:
        return "no packets were captured"
    seen = {e.get("event") for e in events}
    if EventKind.REQUEST.value not in seen:
        return "no request reached the server"
    if EventKind.RESPONSE.value not in seen:
        return "the server's handler never finished"
    return None


def _sndbuf(events: list[dict]) -> int | None:
    for event in events:
        found = _SNDBUF.match(event.get("detail") or "") if event.get("event") == "accept" else None
        if found:
            return int(found.group(1))
    return None


def _app_facts(events: list[dict]) -> dict:
    errors = [e for e in events if e.get("event") == EventKind.WRITE_ERROR.value]
    first = errors[0] if errors else None
    # the handler's end: its last write outcome or its response/abort line, whichever is last
    ends = [e["ts_ns"] for e in events if e.get("event") in ("write", "write_error", "response", "abort")]
    return {
        "app_error": first is not None,
        "app_error_text": first.get("error") if first else None,
        "app_errno": first.get("errno") if first else None,
        "handler_end_ns": int(max(ends)) if ends else None,
    }


def _syscalls(events: pd.DataFrame) -> pd.DataFrame:
    """The strace rows of the timeline (the traced process is the server's)."""
    return events[events["source"] == Source.SYSCALL.value]


def _server_writes(rows: pd.DataFrame) -> list[WriteCall]:
    rows = rows[rows["kind"].astype(str).isin(WRITE_KINDS)]
    calls = []
    for ts_ns, length, errno, detail in zip(rows["ts_ns"], rows["len"], rows["errno"], rows["detail"]):
        asked = _ASKED.search(str(detail))
        calls.append(WriteCall(
            ts_ns=int(ts_ns), asked=int(asked.group(1)) if asked else None,
            written=None if pd.isna(length) else int(length), errno=None if pd.isna(errno) else str(errno),
        ))  # fmt: skip
    return calls


def _before(failed: WriteCall | None, handler_end_ns: int | None) -> bool | None:
    """Did the first failed write happen while the handler was still running? (None: no failure/no log)"""
    return None if failed is None or handler_end_ns is None else failed.ts_ns <= handler_end_ns


def _errnos(rows: pd.DataFrame, kinds: tuple[str, ...]) -> tuple[str, ...]:
    failed = rows[rows["kind"].astype(str).isin(kinds) & rows["errno"].notna()]
    failed = failed[failed["errno"].astype(str) != "EAGAIN"]  # Go's non-blocking reads: not an error
    return tuple(dict.fromkeys(str(e) for e in failed["errno"]))


def _wire_facts(packets: pd.DataFrame, port: int | None) -> dict:
    empty = {"peer_close": None, "peer_close_ns": None, "client_rst": False, "server_wire_bytes": 0, "packets": 0}
    if port is None or packets.empty:
        return empty
    from_client = packets[packets["dport"] == port]
    from_server = packets[packets["sport"] == port]
    closing = from_client[(from_client["flags"] & (BIT["FIN"] | BIT["RST"])) != 0]
    first = closing.iloc[0] if len(closing) else None
    return {
        "peer_close": None if first is None else ("RST" if first["flags"] & BIT["RST"] else "FIN"),
        "peer_close_ns": None if first is None else int(first["ts_ns"]),
        "client_rst": bool(((from_client["flags"] & BIT["RST"]) != 0).any()),
        "server_wire_bytes": int(from_server["len"].sum()),
        "packets": len(packets),
    }
