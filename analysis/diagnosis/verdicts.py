"""Verdicts and the rules that pick them: a table, first match wins.

A rule names the *signals* (per-connection booleans computed in
signals.py from the flows row and the connection's events) that must hold
(``all_of``) and must not (``none_of``). Order matters: specific stories
(the full broken-pipe chain, a swallowed error) come before the
packet-only readings of the same wire pattern, and the generic closes last.

Signals:
    refused             client SYN answered by RST, no SYN-ACK (conn_state REJ)
    late_data           a side sent payload after the peer's FIN (write after peer close)
    rst_answers_late    the FIN sender answered that payload with RST
    client_abort        the first RST came from the client, before any FIN of its own
    server_abort        the same for the server
    syscall_error       the traced side got a connection error from a syscall (not EAGAIN/EINTR)
    syscall_epipe       ... it was EPIPE (first one)
    syscall_econnreset  ... the first one was ECONNRESET
    syscall_seen        strace recorded calls on this connection
    app_seen            the application wrote events for this connection
    app_error           the application reported an error for it
    half_close          the FIN sender acknowledged the peer's later payload (a working half-close)
    both_fin            FIN from both sides
    any_fin / any_rst   at least one FIN / RST
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    REFUSED = "REFUSED"
    ERROR_SWALLOWED_BY_APP = "ERROR_SWALLOWED_BY_APP"
    WRITE_AFTER_PEER_FIN_RST_EPIPE = "WRITE_AFTER_PEER_FIN_RST_EPIPE"
    RST_BY_CLIENT_ECONNRESET = "RST_BY_CLIENT_ECONNRESET"
    WRITE_AFTER_PEER_FIN_RST = "WRITE_AFTER_PEER_FIN_RST"
    RST_BY_CLIENT = "RST_BY_CLIENT"
    RST_BY_SERVER = "RST_BY_SERVER"
    APP_ERROR_WITHOUT_SYSCALL_ERROR = "APP_ERROR_WITHOUT_SYSCALL_ERROR"
    HALF_CLOSE_CLEAN = "HALF_CLOSE_CLEAN"
    NORMAL_CLOSE = "NORMAL_CLOSE"
    RST_AFTER_CLOSE = "RST_AFTER_CLOSE"
    ONE_SIDED_CLOSE = "ONE_SIDED_CLOSE"
    OPEN = "OPEN"


@dataclass(frozen=True)
class Rule:
    verdict: Verdict
    all_of: tuple[str, ...]
    none_of: tuple[str, ...]
    summary: str  # one line, filled with str.format(**names) (client/server/closer/writer)


RULES: tuple[Rule, ...] = (
    Rule(Verdict.REFUSED, ("refused",), (), "connection refused: the SYN was answered by RST"),
    Rule(Verdict.ERROR_SWALLOWED_BY_APP, ("syscall_error", "app_seen"), ("app_error",),
         "the {writer}'s syscall failed but the application never saw the error"),
    Rule(Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE, ("late_data", "rst_answers_late", "syscall_epipe"), (),
         "the {writer} wrote after the {closer}'s FIN, got RST, and its next write failed with EPIPE"),
    Rule(Verdict.RST_BY_CLIENT_ECONNRESET, ("client_abort", "syscall_econnreset"), (),
         "the client aborted with RST; the server got ECONNRESET"),
    Rule(Verdict.WRITE_AFTER_PEER_FIN_RST, ("late_data", "rst_answers_late"), (),
         "the {writer} sent data after the {closer}'s FIN and the {closer} answered with RST"),
    Rule(Verdict.RST_BY_CLIENT, ("client_abort",), (), "the client aborted the connection with RST"),
    Rule(Verdict.RST_BY_SERVER, ("server_abort",), (), "the server aborted the connection with RST"),
    Rule(Verdict.APP_ERROR_WITHOUT_SYSCALL_ERROR, ("app_error", "syscall_seen"), ("syscall_error", "any_rst"),
         "the application reported an error, but no syscall failed and no RST was sent: its runtime refused the write"),
    Rule(Verdict.HALF_CLOSE_CLEAN, ("half_close",), ("any_rst",),
         "half-close: the {closer} closed its direction and still received the {writer}'s data"),
    Rule(Verdict.NORMAL_CLOSE, ("both_fin",), ("any_rst",), "normal close: FIN from both sides, no RST"),
    Rule(Verdict.RST_AFTER_CLOSE, ("any_rst",), (), "closed with FIN, then a RST"),
    Rule(Verdict.ONE_SIDED_CLOSE, ("any_fin",), (), "only one side closed (FIN) before the capture ended"),
    Rule(Verdict.OPEN, (), (), "still open when the capture ended (no FIN, no RST)"),
)


def pick(signals: dict[str, bool]) -> Rule:
    """The first rule whose conditions hold for these signals."""
    for rule in RULES:
        if all(signals.get(s, False) for s in rule.all_of) and not any(signals.get(s, False) for s in rule.none_of):
            return rule
    return RULES[-1]
