"""What every checker is made of: a pattern, a verifying function, and the context it reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.sentences.conn import Conn, other, proxy_pair
from tests.sentences.measure import duration_problem, frame_number, time_problem
from tests.sentences.raw import FIN, RST, Bundle, Packet, Syscall

#: the oracle's own reading of the kernel's RST reasons (include/net/rstreason.h): words each explanation must use
REASON_WORDS = {
    "TCP_TIMEWAIT_SOCKET": "TIME_WAIT", "NO_SOCKET": "no socket", "TCP_ABORT_ON_DATA": "already closed",
    "TCP_ABORT_ON_CLOSE": "unread data", "TCP_ABORT_ON_LINGER": "SO_LINGER 0", "TCP_ABORT_ON_MEMORY": "memory",
    "TCP_KEEPALIVE_TIMEOUT": "keepalive", "TCP_DISCONNECT_WITH_DATA": "unread data", "TCP_STATE": "SO_LINGER 0",
    "NOT_SPECIFIED": "did not say",
}
#: the libraries of the server implementations (meta.json server.impl), as the words name them
LIBRARIES = {"go": "Go's net/http", "python": "Python's http.server", "node": "Node's http module"}
PROXY_NAMES = {"nginx": "nginx", "go": "Go's httputil.ReverseProxy"}
REASON = r"(?:; reason (?P<reason>\w+), from the kernel(?:: (?P<words>.+?))?|(?P<no_reset>; the kernel trace has no tcp_send_reset for it))?"


@dataclass
class Ctx:
    bundle: Bundle
    conn: Conn
    verdict: str
    previous: list[tuple[str, dict]] = field(default_factory=list)  # the clauses before, in this sentence

    @property
    def names(self) -> dict[str, str]:
        """word -> side: client/server, or in a proxy chain (conn.proxy_pair) proxy and upstream server."""
        pair = proxy_pair(self.bundle, self.conn)
        if pair and self.conn.server == pair[0].server:
            return {"client": "client", "proxy": "server"}
        if pair:
            return {"proxy": "client", "upstream server": "server"}
        return {"client": "client", "server": "server"}

    def side(self, word: str) -> str:
        if word not in self.names:
            raise Unverifiable(f"{word!r} names no side here (sides: {self.names})")
        return self.names[word]

    def word(self, side: str) -> str:
        return next(w for w, s in self.names.items() if s == side)

    def earlier(self, *clause_ids: str) -> dict:
        """What the nearest earlier clause of one of these ids said, in this sentence."""
        found = next((g for i, g in reversed(self.previous) if i in clause_ids), None)
        if found is None:
            raise Unverifiable(f"said without a {' or '.join(clause_ids)} before it in its sentence")
        return found


class Unverifiable(Exception):
    """A claim the raw files contradict so plainly that the rest of the clause cannot be checked."""


@dataclass(frozen=True)
class Check:
    pattern: str
    verify: Callable[[dict, Ctx], list[str]]


def packet(ctx: Ctx, frame_text: str, side: str, flag: int = 0) -> Packet:
    """The packet a clause names: in this connection, sent by ``side``, with ``flag``."""
    p = ctx.conn.frame(frame_number(frame_text))
    if p is None:
        raise Unverifiable(f"{frame_text} is not a packet of this connection")
    if ctx.conn.side_of(p) != side:
        raise Unverifiable(f"{frame_text} was sent by the {ctx.conn.side_of(p)}, not the {side}")
    if flag and not p.has(flag):
        raise Unverifiable(f"{frame_text} has flags {p.flags:#x}, not {flag:#x}")
    return p


def at(ctx: Ctx, printed: str, ts_ns: int) -> str | None:
    return time_problem(printed, ctx.conn.t_rel(ts_ns))


def apart(printed: str, ns: int) -> str | None:
    return duration_problem(printed, ns)


def reason_problems(g: dict, ctx: Ctx, rst: Packet) -> list[str]:
    """``; reason R, from the kernel: words`` or ``; the kernel trace has no tcp_send_reset for it``."""
    sender = ctx.conn.side_of(rst)
    sends = ctx.conn.kernel_near(rst.ts_ns, "tcp_send_reset", sender)
    if g.get("no_reset"):
        return [f"the kernel trace has a tcp_send_reset for frame {rst.frame}"] if sends else []
    if not g.get("reason"):
        return []
    matching = [e for e in sends if e.fields.get("reason") == g["reason"]]
    out = [] if matching else [f"no tcp_send_reset with reason {g['reason']} from the {sender} near frame {rst.frame}"]
    words = g.get("words") or ""
    if REASON_WORDS.get(g["reason"], "\0") not in words:
        out.append(f"reason {g['reason']} explained as {words!r}")
    if g["reason"] == "TCP_TIMEWAIT_SOCKET" and matching and matching[0].fields.get("state") != "TCP_TIME_WAIT":
        out.append(f"the socket was in {matching[0].fields.get('state')}, not TIME_WAIT")
    return out


def first_close(ctx: Ctx, side: str) -> Packet | None:
    return ctx.conn.first_close(side)


def is_first_fin(ctx: Ctx, p: Packet) -> bool:
    first = ctx.conn.first(None, FIN)
    return first is not None and first.frame == p.frame


def reset_by(ctx: Ctx, side: str) -> bool:
    return ctx.conn.first(side, RST) is not None


def app_text(event: dict) -> str:
    """An app.jsonl line as the words quote it: "impl: error" (else its detail, else its event)."""
    said = event.get("error") or event.get("detail") or event.get("event")
    return f"{event['impl']}: {said}" if event.get("impl") else str(said)


def call_name(call: Syscall) -> str:
    return f"{call.name}()"


def failed_calls(ctx: Ctx, side: str) -> list[Syscall]:
    return [c for c in ctx.conn.calls(side) if c.failed]


def the_other(side: str) -> str:
    return other(side)
