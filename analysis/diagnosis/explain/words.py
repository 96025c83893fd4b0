"""What every story is written with: clauses with ids, the way times, frames and calls are put, and the tables
of words (RST reasons, server libraries).

A sentence is a tuple of :class:`Clause` s, each the text of one template
(its id: ``"story.what"``) filled with values; the sentence's text is the
clauses joined, then a full stop. The templates are data, one table per
story module, merged in analysis.diagnosis.explain.TEMPLATES; the test
suite holds an independent checker for every id (tests/sentences).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.diagnosis.evidence import Evidence


@dataclass(frozen=True)
class Clause:
    id: str  #: the template's id
    text: str


@dataclass(frozen=True)
class Sentence:
    clauses: tuple[Clause, ...]

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.clauses) + "."


class Phrases:
    """One story's templates: ``phrase(id, **values)`` is that template filled, as a Clause."""

    def __init__(self, templates: dict[str, str]):
        self.templates = templates

    def __call__(self, template_id: str, **values) -> Clause:
        return Clause(template_id, self.templates[template_id].format(**values))


def sentence(*clauses: Clause | None) -> Sentence | None:
    """The clauses given (None: a clause that does not apply), as one sentence; None when none applies."""
    kept = tuple(c for c in clauses if c is not None)
    return Sentence(kept) if kept else None


#: RST reasons (tcp_send_reset `reason`, include/net/rstreason.h) -> plain words.
RST_REASONS: dict[str, str] = {
    "TCP_TIMEWAIT_SOCKET": "its socket was already closed (TIME_WAIT), so any new data gets a RST",
    "NO_SOCKET": "no socket matched the segment",
    "TCP_ABORT_ON_DATA": "data arrived for a socket the application had already closed",
    "TCP_ABORT_ON_CLOSE": "the application closed the socket with unread data",
    "TCP_ABORT_ON_LINGER": "the application closed with SO_LINGER 0 (abortive close)",
    "TCP_ABORT_ON_MEMORY": "the kernel ran out of socket memory",
    "TCP_KEEPALIVE_TIMEOUT": "keepalive probes went unanswered",
    "TCP_DISCONNECT_WITH_DATA": "the application disconnected with unread data",
    "TCP_STATE": "the socket was torn down abortively by tcp_disconnect, as close() with SO_LINGER 0 does",
    "NOT_SPECIFIED": "the kernel did not say why",
}

#: Server implementation (meta.json server.impl) -> the library that buffers, flushes and finishes its responses.
LIBRARIES: dict[str, str] = {"go": "Go's net/http", "python": "Python's http.server", "node": "Node's http module"}
DEFAULT_LIBRARY = "the server's HTTP library"

#: Proxy implementation (meta.json proxy.impl) -> its name in words.
PROXIES: dict[str, str] = {"nginx": "nginx", "go": "Go's httputil.ReverseProxy"}

#: (implementation, call, bytes asked) -> what that call is, when it is a known library's own
CALL_ROLES: dict[tuple[str, str, str], str] = {
    ("go", "read", "1"): "net/http's background read, which watches the connection while the handler runs",
}


def library(impl: str | None) -> str:
    return LIBRARIES.get(impl or "", DEFAULT_LIBRARY)


def time_rel(ev: Evidence) -> str:
    return f"+{ev.t_rel:.2f} s"


def duration(ns: int | float) -> str:
    ns = abs(float(ns))
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.0f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.1f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def frame(ev: Evidence) -> str:
    return f"frame {ev.frame}" if ev.frame is not None else ev.source


def call_name(ev: Evidence) -> str:
    match = re.match(r"\s*(\w+)\(", ev.detail or "")
    return f"{match.group(1)}()" if match else ev.kind


def call_role(ev: Evidence, impl: str | None) -> str | None:
    """What a traced call is (:data:`CALL_ROLES`), from its name and the byte count it asked for."""
    match = re.match(r"\s*(\w+)\(.*,\s*(\d+)\)\s*=", ev.detail or "")
    return CALL_ROLES.get((impl or "", match.group(1), match.group(2))) if match else None


def later_or_earlier(ns: int) -> str:
    return f"{duration(ns)} {'later' if ns >= 0 else 'earlier'}"


def before(a: Evidence | None, b: Evidence | None) -> bool:
    """Both known and ``a`` came first."""
    return a is not None and b is not None and a.ts_ns < b.ts_ns
