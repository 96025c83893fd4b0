"""strace text (`strace -f -ttt -T -yy`) -> timeline rows (source ``syscall``).

Accepted line shapes (one event per line, any mix):

    7201  1795472646.650393 write(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, "HTTP"..., 4096) = 4096 <0.000173>
    [pid  7201] 1795472646.650645 write(4<TCPv6:[[::1]:3000->[::1]:5555]>, ""..., 4096) = -1 EPIPE (Broken pipe) <0.000036>
    1795472646.650393 read(4, "", 1) = 0 <0.000030>                    (no -f, or no -yy)
    7204  1795472645.649480 read(4<TCP:[...]>,  <unfinished ...>
    7204  1795472645.649537 <... read resumed>0xc000072041, 1) = -1 EAGAIN (...) <0.000035>
    7201  1795472646.650735 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, ...} ---
    7201  1795472646.700000 +++ exited with 0 +++

An ``<unfinished ...>`` call and its ``<... resumed>`` tail (same pid: strace
prints nothing else for that thread in between) become one row at the
*entry* time. Syscalls not in :data:`SYSCALL_KINDS` are dropped, as are
calls on fds that ``-yy`` shows are not TCP sockets (pipes, files).

Connection: with ``-yy`` the fd's 4-tuple (local->remote) names it. Without
``-yy`` (bare fds) the fd+timing heuristic applies: the calls on one fd
between two ``close`` of it form one socket lifetime, and that lifetime goes
to the connection that started most recently before its first call and is
not already taken by another lifetime (accept follows the SYN). fds 0-2 are
never tied. This can tie a pipe's fd to a connection: prefer ``-yy``.
A SIGPIPE goes to the connection of the EPIPE that the same thread got just
before it.

Damaged lines (no timestamp, a shape strace does not print, a call cut
before its result) are skipped and counted in ``lines`` (events._lines).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis import clock
from analysis.errors import EventParseError
from analysis.events._lines import count_bad
from analysis.events.context import ParseContext
from analysis.events._tie import tie
from analysis.schema import EventKind, Source, conform, empty


@dataclass(frozen=True)
class SyscallKind:
    ok: EventKind
    error: EventKind
    zero: EventKind | None = None  # kind when the call returns 0 (EOF for reads)
    #: the recorder asks strace for it (capture.recorders.strace); the others are read from a user's own strace
    traced: bool = True


_WRITE = SyscallKind(EventKind.WRITE, EventKind.WRITE_ERROR)
_READ = SyscallKind(EventKind.READ, EventKind.READ_ERROR, EventKind.READ_EOF)
_ACCEPT = SyscallKind(EventKind.ACCEPT, EventKind.ACCEPT)


def _each(kind: SyscallKind, names: tuple[str, ...], traced: bool = True) -> dict[str, SyscallKind]:
    return {name: replace(kind, traced=traced) for name in names}


#: Syscall name -> its timeline kinds: the one list of syscalls, for the parser and the recorder alike.
#: sendfile(out_fd, in_fd, ...) is a write on its first fd, the socket.
SYSCALL_KINDS: dict[str, SyscallKind] = {
    **_each(_WRITE, ("write", "writev", "sendto", "sendmsg", "sendfile")),
    **_each(_WRITE, ("pwrite64", "pwritev", "pwritev2", "send", "sendmmsg"), traced=False),
    **_each(_READ, ("read", "readv", "recvfrom", "recvmsg")),
    **_each(_READ, ("pread64", "preadv", "preadv2", "recv", "recvmmsg"), traced=False),
    **_each(_ACCEPT, ("accept", "accept4")),
    "close": SyscallKind(EventKind.CLOSE, EventKind.CLOSE),
    "shutdown": SyscallKind(EventKind.SHUTDOWN, EventKind.SHUTDOWN),
    "connect": SyscallKind(EventKind.CONNECT, EventKind.CONNECT, traced=False),
}
#: What the recorder traces (the server's side: it accepts, it never connects).
TRACED_SYSCALLS: tuple[str, ...] = tuple(name for name, kind in SYSCALL_KINDS.items() if kind.traced)
_ACCEPTS = [name for name, kind in SYSCALL_KINDS.items() if kind.ok is EventKind.ACCEPT]

_LINE = (
    r"^\s*(?:\[pid\s+(?P<pid_a>\d+)\]\s+|(?P<pid_b>\d+)\s+)?(?P<ts>\d+\.\d+)\s+(?P<rest>.*?)\s*$"
)
_CALL = r"^(?P<name>\w+)\((?P<args>.*)$"
_RESUMED = r"^<\.\.\.\s+(?P<name>\w+)\s+resumed>\s?(?P<args>.*)$"
_RESULT = (
    r"^(?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?|0x[0-9a-fA-F]+)(?P<retdeco><(?:->|[^>])*>)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+)\s+\((?P<errdesc>[^)]*)\))?.*?(?:\s+<(?P<dur>\d+\.\d+)>)?$"
)
_FD = r"^\s*(?P<fd>\d+)(?:<(?P<deco>.*?)>)?(?:,|$)"
_ENDPOINT = r"(?:\[[^\]]*\]|[^:\[\]>-]+):\d+"  # 1.2.3.4:80 or [::1]:80
_SOCKET_DECO = rf"^(?P<proto>TCP|TCPv6):\[(?P<local>{_ENDPOINT})->(?P<remote>{_ENDPOINT})\]"
_SIGNAL = r"^---\s+(?P<sig>SIG\w+)\s*(?P<info>\{.*\})?\s*---$"
_EXIT = r"^\+\+\+\s+(?P<what>.*?)\s+\+\+\+$"
_UNFINISHED = "<unfinished ...>"
#: Every shape of what follows the timestamp in strace's output (calls, resumed calls, --- notices ---,
#: +++ exits +++); a line of none of them is damaged. A call that is not <unfinished ...> ends in its result.
_KNOWN_SHAPE = r"^(?:(?:\w+|\?\?\?)\(|<\.\.\.\s+\w+\s+resumed>|---\s.*---$|\+\+\+\s.*\+\+\+$)"
_CALL_OR_RESUMED = r"^(?:(?:\w+|\?\?\?)\(|<\.\.\.)"
_HAS_RESULT = r"\)\s+=\s+(?:-?\d+|\?|0x[0-9a-fA-F]+)"


def parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """Timeline rows from strace output, tied to ``ctx.flows``; ``ctx.actor`` is the side that was traced (used
    when no flow matches); damaged lines are counted in ``ctx.lines`` (module docstring).

    Every row has its thread id (``pid``): the kernel parser ties ``sock_send_length`` through it.
    """
    flows, actor, lines = ctx.flows, ctx.actor, ctx.lines
    text_lines = pd.Series(text.splitlines(), dtype="string")
    head = text_lines.str.extract(_LINE)
    head["ts_ns"] = clock.strace_to_ns(head["ts"].fillna(""))
    damaged = _damaged(text_lines, head)
    count_bad(lines, damaged)
    head = head[~damaged & head["ts"].notna()].copy()
    if head.empty:
        if damaged.any():
            raise EventParseError(f"none of the {int(damaged.sum())} non-empty lines is a strace line with a -ttt "
                                  "timestamp (expected `strace -f -ttt -T -yy` output)")
        return empty()
    head["pid"] = head["pid_a"].fillna(head["pid_b"]).fillna("0").astype("int64")
    head["line"] = text_lines[head.index]
    rest = head["rest"]

    calls = _calls(head, rest)
    signals = _signals(head, rest)
    frames = [f for f in (calls, signals) if not f.empty]
    if not frames:
        return empty()
    rows = pd.concat(frames).sort_values("order", kind="stable").reset_index(drop=True)
    for column in ("errno", "len", "fd", "signal"):
        if column not in rows:
            rows[column] = None
    rows["decorated"] = rows["decorated"].fillna(False).astype(bool)

    flow, side = tie(rows["ts_ns"].to_numpy(), rows["local"], rows["remote"], flows)
    rows["flow"] = flow
    rows["actor"] = side
    if flows is not None and len(flows):
        _tie_bare_fds(rows, flows)
    _tie_sigpipe(rows)
    rows["actor"] = rows["actor"].where(rows["actor"].notna(), actor)
    rows["source"] = Source.SYSCALL.value
    return conform(rows)


def _damaged(lines: pd.Series, head: pd.DataFrame) -> np.ndarray:
    """Non-empty lines that are no strace line: no timestamp (or one past 2262), an unknown shape, a call cut
    before its result."""
    rest = head["rest"].fillna("")
    blank = (lines.str.strip() == "").fillna(True).to_numpy(bool)
    no_time = (head["ts_ns"] == clock.NO_TIME).to_numpy(bool)
    unknown = ~rest.str.contains(_KNOWN_SHAPE, regex=True).fillna(False).to_numpy(bool)
    call = rest.str.contains(_CALL_OR_RESUMED, regex=True).fillna(False) & ~rest.str.endswith(_UNFINISHED).fillna(False)
    cut = (call & ~rest.str.contains(_HAS_RESULT, regex=True).fillna(False)).to_numpy(bool)
    return ~blank & (no_time | unknown | cut)


def _calls(head: pd.DataFrame, rest: pd.Series) -> pd.DataFrame:
    """One row per complete call of a syscall we read: its kind, length, errno, fd and socket ends."""
    frame = _whole_calls(head, rest)
    if frame.empty:
        return frame
    return _classified(frame)


def _whole_calls(head: pd.DataFrame, rest: pd.Series) -> pd.DataFrame:
    """The calls of SYSCALL_KINDS, each ``<unfinished ...>`` head joined to its ``<... resumed>`` tail (at the
    entry time)."""
    start = rest.str.extract(_CALL)
    resumed = rest.str.extract(_RESUMED)
    is_resumed = resumed["name"].notna()
    is_call = start["name"].notna() & ~is_resumed
    unfinished = is_call & rest.str.endswith(_UNFINISHED)
    frame = pd.DataFrame({
        "order": np.arange(len(head)),
        "pid": head["pid"],
        "ts_ns": head["ts_ns"],
        "line": head["line"],
        "name": start["name"].where(is_call, resumed["name"]),
        "body": start["args"].where(is_call, resumed["args"]),
        "unfinished": unfinished,
        "resumed": is_resumed,
    })
    frame = frame[is_call | is_resumed]
    frame = frame[frame["name"].isin(list(SYSCALL_KINDS))]
    if frame.empty:
        return frame
    # pair each resumed tail with the unfinished head just before it on the same pid
    frame["position"] = np.arange(len(frame))
    prev = frame.groupby("pid", sort=False)[["unfinished", "body", "line", "order", "name", "position"]].shift(1)
    paired = frame["resumed"] & prev["unfinished"].fillna(False).astype(bool) & (prev["name"] == frame["name"])
    frame.loc[paired, "body"] = prev.loc[paired, "body"].str.replace(_UNFINISHED, "", regex=False).str.rstrip() + " " + frame.loc[paired, "body"]
    entry_positions = prev.loc[paired, "position"].to_numpy(np.int64)
    frame.loc[paired, "ts_ns"] = frame["ts_ns"].to_numpy(np.int64)[entry_positions]
    frame.loc[paired, "line"] = prev.loc[paired, "line"] + " ... " + frame.loc[paired, "line"]
    frame.loc[paired, "order"] = prev.loc[paired, "order"]
    complete = (~frame["unfinished"] & ~frame["resumed"]) | paired
    return frame[complete].copy()


def _classified(frame: pd.DataFrame) -> pd.DataFrame:
    """The whole calls with their result read: kind by outcome (SYSCALL_KINDS), length, errno, the socket's ends
    (calls on fds that ``-yy`` shows are not TCP sockets are dropped)."""
    result = frame["body"].str.extract(_RESULT)
    frame = frame[result["ret"].notna()].copy()
    result = result[result["ret"].notna()]
    fd = result["args"].str.extract(_FD)
    deco = fd["deco"].fillna("")
    sock = deco.str.extract(_SOCKET_DECO)
    retsock = result["retdeco"].fillna("").str.strip("<>").str.extract(_SOCKET_DECO)
    is_accept = frame["name"].isin(_ACCEPTS)
    sock = sock.where(~is_accept | retsock["proto"].isna(), retsock)
    not_tcp = (deco != "") & sock["proto"].isna() & ~is_accept
    keep = ~not_tcp.to_numpy()
    frame, result, fd, sock = frame[keep], result[keep], fd[keep], sock[keep]

    ret = pd.to_numeric(result["ret"].astype(object), errors="coerce").astype("float64")
    errno = result["errno"].astype(object)
    names = frame["name"].astype(object)
    ok_kind = names.map({n: k.ok.value for n, k in SYSCALL_KINDS.items()}).to_numpy(object)
    error_kind = names.map({n: k.error.value for n, k in SYSCALL_KINDS.items()}).to_numpy(object)
    zero_kind = names.map({n: (k.zero or k.ok).value for n, k in SYSCALL_KINDS.items()}).to_numpy(object)
    is_rw = names.map({n: k.ok in (EventKind.WRITE, EventKind.READ) for n, k in SYSCALL_KINDS.items()}).to_numpy(bool)
    failed = (ret < 0).to_numpy(bool)
    zero = (ret == 0).to_numpy(bool)
    kind = np.where(failed, error_kind, np.where(zero, zero_kind, ok_kind))
    length = ret.where(is_rw & ~failed & ret.notna().to_numpy(bool))
    return pd.DataFrame({
        "order": frame["order"],
        "pid": frame["pid"],
        "ts_ns": frame["ts_ns"],
        "kind": kind,
        "len": length.astype("Int64"),
        "errno": errno.where(failed, None),
        "detail": (frame["name"] + "(" + frame["body"].str.replace(r"\s+", " ", regex=True)).str.slice(0, 300),
        "fd": pd.to_numeric(fd["fd"], errors="coerce"),
        "local": sock["local"].fillna(""),
        "remote": sock["remote"].fillna(""),
        "decorated": fd["deco"].notna(),
    })


def _signals(head: pd.DataFrame, rest: pd.Series) -> pd.DataFrame:
    sig = rest.str.extract(_SIGNAL)
    ext = rest.str.extract(_EXIT)
    is_sig = sig["sig"].notna()
    is_exit = ext["what"].notna()
    mask = is_sig | is_exit
    if not mask.any():
        return pd.DataFrame()
    killed = ext["what"].fillna("").str.startswith("killed")
    kind = np.where(is_sig | killed, EventKind.SIGNAL.value, EventKind.LOG.value)
    detail = rest
    return pd.DataFrame({
        "order": np.arange(len(head))[mask.to_numpy()],
        "pid": head["pid"][mask],
        "ts_ns": head["ts_ns"][mask],
        "kind": kind[mask.to_numpy()],
        "detail": detail[mask],
        "signal": sig["sig"][mask],
        "local": "",
        "remote": "",
        "decorated": False,
    })


def _tie_bare_fds(rows: pd.DataFrame, flows: pd.DataFrame) -> None:
    """The fd+timing heuristic (module docstring) for calls without -yy decoration."""
    if "fd" not in rows:
        return
    bare = (rows["flow"] == "") & rows["fd"].notna() & (rows["fd"] > 2) & ~rows["decorated"].fillna(False).astype(bool)
    if not bare.any():
        return
    sub = rows[bare]
    closes = (sub["kind"] == EventKind.CLOSE.value).astype(int)
    lifetime = closes.groupby(sub["fd"]).cumsum() - closes  # the close belongs to the lifetime it ends
    segments = (sub.assign(life=lifetime).groupby(["fd", "life"], sort=False)["ts_ns"].min().sort_values())
    starts = flows[["flow", "first_ts_ns"]].sort_values("first_ts_ns")
    taken: set[str] = set()
    chosen = {}
    for (fd, life), t0 in segments.items():  # one iteration per socket lifetime, not per packet
        candidates = starts[(starts["first_ts_ns"] <= t0) & ~starts["flow"].isin(taken)]
        if candidates.empty:
            continue
        fid = candidates["flow"].iloc[-1]
        taken.add(fid)
        chosen[(fd, life)] = fid
    keys = list(zip(sub["fd"], lifetime))
    rows.loc[bare, "flow"] = [chosen.get(k, "") for k in keys]
    server = dict(zip(flows["flow"], ["server"] * len(flows)))
    rows.loc[bare & (rows["flow"] != ""), "actor"] = rows.loc[bare & (rows["flow"] != ""), "flow"].map(server)


def _tie_sigpipe(rows: pd.DataFrame) -> None:
    if "signal" not in rows:
        return
    epipe_flow = rows["flow"].where((rows["errno"] == "EPIPE") & (rows["flow"] != ""))
    last = epipe_flow.groupby(rows["pid"]).ffill()
    sigpipe = rows["signal"] == "SIGPIPE"
    rows.loc[sigpipe, "flow"] = last[sigpipe].fillna("")
    rows["detail"] = rows["detail"].astype(object)
