"""The RST: the kernel's answer to the late data, and what it did to the socket it reached (tcp_reset()'s rule,
analysis.tcp.resets), observed or inferred."""

from __future__ import annotations

import re

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.close import kernel_reason
from analysis.diagnosis.explain.words import Phrases, Sentence, duration, frame, sentence
from analysis.diagnosis.findings import Findings, optional
from analysis.schema import Source

TEMPLATES: dict[str, str] = {
    "rst.answer": "The {closer}'s kernel answered with RST after {delay} ({frame}{why})",
    "why.epipe": "Why EPIPE and not ECONNRESET: the RST arrived while the {receiver}'s socket was in CLOSE_WAIT "
                 "({source}); Linux reports a reset in CLOSE_WAIT as EPIPE, while a RST in ESTABLISHED gives ECONNRESET",
    "why.none_failed": "No call of the {receiver} failed after the RST (strace). The RST arrived while its socket was "
                       "in CLOSE_WAIT ({source}), so a later write would have failed with EPIPE, not ECONNRESET (a RST "
                       "in ESTABLISHED gives ECONNRESET)",
    "why.state": "The RST arrived while the {receiver}'s socket was {in_state} ({source})",
    "why.reported": ", so the kernel reported {errno} to the {receiver}{seen_in}",
    "why.would": ": {subject} would fail with {errno} (Linux's tcp_reset())",
    "why.ignored": ": the kernel ignores a RST in that state (no error)",
    "why.only_first": ". Only the first call to look sees ECONNRESET; after that the socket is closed for sending and "
                      "every later write fails with EPIPE",
}
phrase = Phrases(TEMPLATES)

#: how a state reads after "was"
IN_STATE: dict[str, str] = {"ESTABLISHED": "ESTABLISHED"}
#: inferred from the packets (no kernel trace): why the state is what it is, by state
INFERRED_BECAUSE: dict[str, str] = {
    "SYN_SENT": "no SYN-ACK before the RST",
    "CLOSE_WAIT": "the {receiver} had received the {sender}'s FIN",
    "ESTABLISHED": "no FIN from the {sender} before its RST",
}
#: the call an inferred errno would reach, by state
WOULD_FAIL: dict[str, str] = {"SYN_SENT": "its pending connect()", "CLOSE_WAIT": "a write after this RST"}
OTHER_CALLS = "its next read or write"


def tell_answer(f: Findings) -> Sentence | None:
    it = f.items
    rst, data = it.get(Label.RST_ANSWER), it.get(Label.LATE_DATA)
    if rst is None or data is None:
        return None
    why = kernel_reason(f) or ("; the kernel trace has no tcp_send_reset for it" if "kernel" in f.sources else "")
    return sentence(phrase("rst.answer", closer=f.name(f.closer), delay=duration(rst.ts_ns - data.ts_ns), frame=frame(rst),
                           why=why))


def _source(f: Findings, receiver: str, sender: str, state: str) -> str:
    it = f.items
    if f.row.get("reset_state_source") != "kernel":
        because = INFERRED_BECAUSE.get(state, "")
        return "inferred from the packets: " + because.format(receiver=f.name(receiver), sender=f.name(sender))
    text = "kernel: " + it[Label.STATE_AT_RST].detail
    report = it.get(Label.SK_ERROR)
    if report is not None:
        number = re.search(r"error=(-?\d+)", report.detail or "")
        text += f", error report {number.group(1) + ' = ' if number else ''}{report.errno}"
    return text


def _seen(f: Findings, receiver: str) -> dict[str, str]:
    """The errnos the receiver was seen to get -> where it shows (after the source in parentheses): the kernel's
    error report (already in the source), strace, its application's log."""
    seen = {}
    for label, where in ((Label.SK_ERROR, ""), (Label.SYSCALL_ERROR, " (strace)"), (Label.WRITE_ERROR, " (strace)"),
                         (Label.APP_ERROR, f" (the {f.name(receiver)}'s application log)")):
        ev = f.items.get(label)
        if ev is not None and ev.errno and (label is Label.SK_ERROR or ev.actor == receiver) and _quotable(ev, where):
            seen.setdefault(ev.errno, where)
    return seen


def _quotable(ev, where: str) -> bool:
    """Said to be seen ``where``: a call's errno is strace's only when strace traced it (not the kernel's send)."""
    return where != " (strace)" or ev.source == Source.SYSCALL.value


def _traced_errnos(f: Findings, receiver: str) -> set[str]:
    """The errnos strace saw the receiver's calls fail with."""
    return {ev.errno for label in (Label.SYSCALL_ERROR, Label.WRITE_ERROR)
            if (ev := f.items.get(label)) is not None and ev.errno and ev.actor == receiver
            and ev.source == Source.SYSCALL.value}


def _traced(f: Findings, side: str) -> bool:
    return optional(f.row.get("syscall_seen_by")) in (side, "both")


def tell_why(f: Findings) -> Sentence | None:
    rst, state, errno = f.items.get(Label.FIRST_RST), optional(f.row.get("reset_state")), optional(f.row.get("reset_errno"))
    if rst is None or state is None:
        return None
    sender = rst.actor or f.closer
    receiver = f.other(sender) or f.writer
    source, seen, traced = _source(f, receiver, sender, state), _seen(f, receiver), _traced_errnos(f, receiver)
    if state == "CLOSE_WAIT" and "EPIPE" in traced:
        return sentence(phrase("why.epipe", receiver=f.name(receiver), source=source))
    if state == "CLOSE_WAIT" and not traced and _traced(f, receiver):
        return sentence(phrase("why.none_failed", receiver=f.name(receiver), source=source))
    head = phrase("why.state", receiver=f.name(receiver), in_state=IN_STATE.get(state, f"in {state}"), source=source)
    if errno is None:
        return sentence(head, phrase("why.ignored"))
    if errno in seen:
        tail = phrase("why.only_first") if {"ECONNRESET", "EPIPE"} <= traced else None
        return sentence(head, phrase("why.reported", errno=errno, receiver=f.name(receiver), seen_in=seen[errno]), tail)
    return sentence(head, phrase("why.would", subject=WOULD_FAIL.get(state, OTHER_CALLS), errno=errno))
