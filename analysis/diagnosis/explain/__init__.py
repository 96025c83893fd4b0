"""Plain sentences from a connection's findings, one story per module, the words in tables.

    close.py      how it ended: refused, aborted with RST, closed with FIN (a request pending)
    chain.py      a proxy chain: the client's close, the proxy's close of its upstream connection
    late.py       the write after the peer's close, and which layer made it
    reset.py      the RST's answer, and what it did to the socket it reached (tcp_reset()'s rule)
    syscalls.py   the calls that failed (strace)
    transfer.py   the bytes: lost, acknowledged, delivered before a RST; a reader that stopped reading
    app.py        what the application saw
    endings.py    half-closes, unanswered requests, normal and one-sided closes, still open
    unknowns.py   what cannot be known from the sources at hand
    summary.py    the verdict's one line

Each story looks at the findings and returns a :class:`Sentence` (clauses
with template ids) or None; :data:`STORIES` lists them in the order a
reader follows. :data:`TEMPLATES` holds every template by id: the test
suite checks each kind of clause against the raw files (tests/sentences).
"""

from __future__ import annotations

from analysis.diagnosis.explain import app, chain, close, endings, late, reset, summary, syscalls, transfer, unknowns
from analysis.diagnosis.explain.words import Clause, Sentence, duration, time_rel
from analysis.diagnosis.findings import Findings

STORIES = (
    close.tell, chain.tell, late.tell, reset.tell_answer, syscalls.tell, reset.tell_why, transfer.tell_late_bytes,
    transfer.tell_download, transfer.tell_zero_window, app.tell, endings.tell, unknowns.tell,
)


def _merged(*tables: dict[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for table in tables:
        twice = set(merged) & set(table)
        if twice:
            raise ValueError(f"template ids defined twice: {sorted(twice)}")
        merged.update(table)
    return merged


#: every template, by id
TEMPLATES: dict[str, str] = _merged(*(module.TEMPLATES for module in (
    close, chain, late, reset, syscalls, transfer, app, endings, unknowns, summary)))


def sentences(f: Findings) -> tuple[Sentence, ...]:
    """The sentences of a connection, in story order."""
    return tuple(told for tell in STORIES if (told := tell(f)) is not None)


__all__ = ["Clause", "STORIES", "Sentence", "TEMPLATES", "duration", "sentences", "summary", "time_rel"]
