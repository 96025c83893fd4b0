"""Verdicts and the rules that pick them: a table, first match wins, evaluated as boolean columns.

A rule names the signals (signals.py) that must hold (``all_of``) and must
not (``none_of``). Order matters: specific stories (the full broken-pipe
chain, a swallowed error) come before the packet-only readings of the same
wire pattern, and the generic closes last. The rules run over every
connection at once (analysis.rules.first_match), as conn_state's do.

:data:`MOST_TELLING_FIRST` is the order in which connections are shown when
there are too many to show them all; ``clean`` marks the verdicts of
connections that closed as they should.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analysis.diagnosis.signals import Signal
from analysis.rules import first_match, names_used


class Verdict(StrEnum):
    REFUSED = "REFUSED"
    ERROR_SWALLOWED_BY_APP = "ERROR_SWALLOWED_BY_APP"
    WRITE_AFTER_PEER_FIN_RST_EPIPE = "WRITE_AFTER_PEER_FIN_RST_EPIPE"
    RST_BY_CLIENT_ECONNRESET = "RST_BY_CLIENT_ECONNRESET"
    WRITE_AFTER_PEER_FIN_RST = "WRITE_AFTER_PEER_FIN_RST"
    RST_BY_CLIENT = "RST_BY_CLIENT"
    RST_BY_SERVER = "RST_BY_SERVER"
    APP_ERROR_WITHOUT_SYSCALL_ERROR = "APP_ERROR_WITHOUT_SYSCALL_ERROR"
    HALF_CLOSE_RESPONSE_CUT = "HALF_CLOSE_RESPONSE_CUT"
    HALF_CLOSE_CLEAN = "HALF_CLOSE_CLEAN"
    CLOSED_BEFORE_RESPONSE = "CLOSED_BEFORE_RESPONSE"
    NORMAL_CLOSE = "NORMAL_CLOSE"
    RST_AFTER_CLOSE = "RST_AFTER_CLOSE"
    ONE_SIDED_CLOSE = "ONE_SIDED_CLOSE"
    OPEN = "OPEN"


@dataclass(frozen=True)
class Rule:
    verdict: Verdict
    all_of: tuple[Signal, ...]
    none_of: tuple[Signal, ...]
    summary: str  # one line, filled with str.format(**names) (client/server/closer/writer)
    clean: bool = False  # the connection closed as it should: not shown among the problems


S = Signal
RULES: tuple[Rule, ...] = (
    Rule(Verdict.REFUSED, (S.REFUSED,), (), "connection refused: the SYN was answered by RST"),
    Rule(Verdict.ERROR_SWALLOWED_BY_APP, (S.WRITE_FAILED, S.APP_SEEN), (S.APP_ERROR, S.APP_ABORT),
         "the {writer}'s write failed but the application never saw the error"),
    Rule(Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE, (S.LATE_DATA, S.RST_ANSWERS_LATE, S.SYSCALL_EPIPE), (),
         "the {writer} wrote after the {closer}'s FIN, got RST, and its next write failed with EPIPE"),
    Rule(Verdict.RST_BY_CLIENT_ECONNRESET, (S.CLIENT_ABORT, S.SYSCALL_ECONNRESET), (),
         "the {client} aborted with RST, and the {server}'s calls failed"),
    Rule(Verdict.WRITE_AFTER_PEER_FIN_RST, (S.LATE_DATA, S.RST_ANSWERS_LATE), (),
         "the {writer} sent data after the {closer}'s FIN and the {closer} answered with RST"),
    Rule(Verdict.RST_BY_CLIENT, (S.CLIENT_ABORT,), (), "the client aborted the connection with RST"),
    Rule(Verdict.RST_BY_SERVER, (S.SERVER_ABORT,), (), "the server aborted the connection with RST"),
    Rule(Verdict.APP_ERROR_WITHOUT_SYSCALL_ERROR, (S.APP_ERROR, S.SYSCALL_SEEN), (S.SYSCALL_ERROR, S.ANY_RST),
         "the application reported an error, but no syscall failed and no RST was sent: its runtime refused the write"),
    Rule(Verdict.HALF_CLOSE_RESPONSE_CUT, (S.HALF_CLOSE, S.RESPONSE_CUT), (S.ANY_RST,),
         "half-close: the {closer} closed only its direction and kept reading, but the {writer} took it for gone "
         "and cut its response short"),
    Rule(Verdict.HALF_CLOSE_CLEAN, (S.HALF_CLOSE,), (S.ANY_RST,),
         "half-close: the {closer} closed its direction and still received the {writer}'s data", clean=True),
    Rule(Verdict.CLOSED_BEFORE_RESPONSE, (S.UNANSWERED,), (S.ANY_RST,),
         "the {client} closed (FIN) while its request was pending; the {server} sent no response"),
    Rule(Verdict.NORMAL_CLOSE, (S.BOTH_FIN,), (S.ANY_RST,), "normal close: FIN from both sides, no RST", clean=True),
    Rule(Verdict.RST_AFTER_CLOSE, (S.ANY_RST,), (), "closed with FIN, then a RST"),
    Rule(Verdict.ONE_SIDED_CLOSE, (S.ANY_FIN,), (), "only one side closed (FIN) before the capture ended"),
    Rule(Verdict.OPEN, (), (), "still open when the capture ended (no FIN, no RST)", clean=True),
)


def check(rules: tuple[Rule, ...], order: tuple[Verdict, ...]) -> None:
    """Raise ValueError unless ``rules`` name every Verdict once, only known Signals (a misspelt one would
    silently never hold), and end with a catch-all; and ``order`` ranks every Verdict once."""
    verdicts = [rule.verdict for rule in rules]
    if sorted(verdicts) != sorted(Verdict):
        raise ValueError(f"the rules must name every verdict once: {sorted(set(Verdict) ^ set(verdicts))}")
    unknown = names_used(rules) - set(Signal)
    if unknown:
        raise ValueError(f"the rules name unknown signals {sorted(unknown)}; known: {', '.join(Signal)}")
    if rules[-1].all_of or rules[-1].none_of:
        raise ValueError("the last rule must hold for every connection")
    if sorted(order) != sorted(Verdict):
        raise ValueError("the display order must rank every verdict once")


RULE_OF: dict[Verdict, Rule] = {rule.verdict: rule for rule in RULES}

#: When there are too many connections to explain them all: the story the tool exists for first, then errors
#: the application saw or missed, then aborts, then the rest.
MOST_TELLING_FIRST: tuple[Verdict, ...] = (
    Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE, Verdict.ERROR_SWALLOWED_BY_APP, Verdict.RST_BY_CLIENT_ECONNRESET,
    Verdict.APP_ERROR_WITHOUT_SYSCALL_ERROR, Verdict.HALF_CLOSE_RESPONSE_CUT, Verdict.WRITE_AFTER_PEER_FIN_RST,
    Verdict.RST_BY_CLIENT, Verdict.RST_BY_SERVER, Verdict.CLOSED_BEFORE_RESPONSE, Verdict.REFUSED,
    Verdict.RST_AFTER_CLOSE, Verdict.ONE_SIDED_CLOSE, Verdict.HALF_CLOSE_CLEAN, Verdict.NORMAL_CLOSE, Verdict.OPEN,
)
check(RULES, MOST_TELLING_FIRST)  # at import: a table that does not hold together must not load


def verdict_codes(signals: dict[Signal, np.ndarray], n_rows: int) -> np.ndarray:
    """Index into :data:`RULES` of every connection's verdict (first match wins)."""
    return first_match(RULES, signals, n_rows)


def markdown_table() -> str:
    """The rules as the README shows them (a test keeps the two equal)."""
    lines = ["| verdict | requires | unless | summary |", "|---|---|---|---|"]
    for rule in RULES:
        lines.append(f"| `{rule.verdict.value}` | {', '.join(rule.all_of) or '-'} | {', '.join(rule.none_of) or '-'} "
                     f"| {rule.summary} |")
    return "\n".join(lines)
