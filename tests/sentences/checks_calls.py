"""Checkers of the traced calls (syscall.*), of which layer made a write (layer.*), of what the RST did to the socket
it reached (why.*: Linux's tcp_reset() rule, restated here), and of what cannot be known (unknown.*)."""

from __future__ import annotations

import errno as errnos
import os

from tests.sentences.checking import LIBRARIES, Check, Ctx, Unverifiable, apart, app_text, at, call_name, failed_calls
from tests.sentences.conn import other
from tests.sentences.measure import DURATION, TIME, problems, time_problem
from tests.sentences.raw import ACK, FIN, RST, SYN, Packet

#: net/ipv4/tcp_input.c tcp_reset(): the receiver's state -> the error (None: ignored); ECONNRESET otherwise
TCP_RESET = {"SYN_SENT": "ECONNREFUSED", "CLOSE_WAIT": "EPIPE", "CLOSE": None}
WOULD_FAIL = {"SYN_SENT": "its pending connect()", "CLOSE_WAIT": "a write after this RST"}


def _failing(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(g["side"])
    failed = [(s, c) for s, c in ctx.conn.syscalls if c.failed]
    if not failed or failed[0][0] != side:
        raise Unverifiable(f"the first failing call on the connection is not the {side}'s")
    call = failed[0][1]
    anchor = ctx.conn.first(None, RST) or ctx.conn.first(None, FIN)
    fin = ctx.conn.first(None, FIN)
    wrote = [c for c in ctx.conn.calls(side) if c.is_write and not c.errno and fin and fin.ts_ns < c.ts_ns < call.ts_ns]
    out = problems(None if (call_name(call), call.errno) == (g["call"], g["errno"]) else
                   f"the first failing call is {call_name(call)} with {call.errno}", at(ctx, g["t"], call.ts_ns),
                   None if bool(g["next"]) == (bool(wrote) and call.is_write) else "next?")
    if g.get("delay"):
        delta = call.ts_ns - anchor.ts_ns
        out += problems(apart(g["delay"], delta), None if (delta >= 0) == (g["dir"] == "later") else "later/earlier?")
    return out


def _role(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(ctx.earlier("syscall.failed")["side"])
    call = failed_calls(ctx, side)[0]
    known = ctx.bundle.impl("server") == "go" and call.name == "read" and call.count == "1"
    return [] if known and "background read" in g["role"] else [f"{call_name(call)} is not net/http's background read"]


def _then(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(ctx.earlier("syscall.failed")["side"])
    writes = [c for c in failed_calls(ctx, side) if c.is_write]
    if not writes:
        return ["no write of that side failed"]
    return problems(None if (call_name(writes[0]), writes[0].errno) == (g["call"], g["errno"]) else
                    f"its first failing write is {call_name(writes[0])} with {writes[0].errno}", at(ctx, g["t"], writes[0].ts_ns))


def _write_named_before(ctx: Ctx) -> int:
    """The time of the write the clause before names: a traced call (its time), else the late payload's packet."""
    for clause_id, g in reversed(ctx.previous):
        side = ctx.side(g.get("side") or g.get("writer") or ctx.earlier("syscall.failed")["side"])
        if clause_id in ("syscall.failed", "syscall.then"):
            calls = [c for c in failed_calls(ctx, side) if clause_id == "syscall.failed" or c.is_write]
            return calls[0].ts_ns
        if clause_id == "late.sent":
            fin = ctx.conn.first(other(side), FIN)
            call = [c for c in ctx.conn.calls(side) if c.is_write and not c.errno and c.ts_ns > fin.ts_ns]
            return call[0].ts_ns if call else ctx.conn.frame(int(g["frame"].split()[1])).ts_ns
    raise Unverifiable("no write named before")


def _after_handler(g: dict, ctx: Ctx) -> list[str]:
    library = LIBRARIES.get(ctx.bundle.impl("server") or "", "the server's HTTP library")
    responses = [e for e in ctx.conn.app_of("server", "response") if app_text(e) == g["said"]]
    if not responses:
        return [f"the server's application logged no response line {g['said']!r} for this connection"]
    said = responses[0]
    return problems(None if g["library"] == library else f"the server is {ctx.bundle.impl('server')}, not {g['library']}",
                    None if "handler returned" in (said.get("detail") or "") else "that line is not the handler's return",
                    time_problem(g["t"], ctx.conn.t_rel(said["ts_ns"])),
                    None if said["ts_ns"] < _write_named_before(ctx) else "the handler returned after that write")


# -- the RST's receiver: its state, and tcp_reset()'s errno --

def _reset(ctx: Ctx) -> tuple[Packet, str, str]:
    rst = ctx.conn.first(None, RST)
    if rst is None:
        raise Unverifiable("no RST")
    sender = ctx.conn.side_of(rst)
    return rst, sender, other(sender)


def _kernel_state(ctx: Ctx, rst: Packet, receiver: str) -> str | None:
    closing = [e for e in ctx.conn.kernel_near(rst.ts_ns, "inet_sock_set_state", receiver)
               if e.fields.get("newstate") == "TCP_CLOSE"]
    return closing[0].fields["oldstate"].removeprefix("TCP_") if closing else None


def _report(ctx: Ctx, rst: Packet, receiver: str) -> str | None:
    reports = ctx.conn.kernel_near(rst.ts_ns, "inet_sk_error_report", receiver)
    return errnos.errorcode.get(abs(int(reports[0].fields["error"]))) if reports else None


def _state_problems(ctx: Ctx, source: str, state: str) -> list[str]:
    """The state a ``(source)`` claims, verified from the kernel trace or from the packets it says it reads."""
    rst, sender, receiver = _reset(ctx)
    kernel = _kernel_state(ctx, rst, receiver)
    if source.startswith("kernel: "):
        report = _report(ctx, rst, receiver)
        said_report = source.partition(", error report ")[2]
        return problems(None if kernel == state and source.startswith(f"kernel: {state}->CLOSE") else
                        f"the kernel shows {kernel}", None if not said_report or said_report.endswith(f"= {report}")
                        else f"the error report was {report}")
    syn = [p for p in ctx.conn.by(receiver, SYN, before=rst.frame) if not p.has(ACK)]
    basis = {
        "SYN_SENT": bool(syn) and not any(p.has(SYN) and p.has(ACK) for p in ctx.conn.by(sender, before=rst.frame)),
        "CLOSE_WAIT": bool(ctx.conn.by(sender, FIN, before=rst.frame)),
        "ESTABLISHED": True,
    }
    inferred = next((s for s in ("SYN_SENT", "CLOSE_WAIT", "ESTABLISHED") if basis[s]), None)
    return problems(None if kernel is None else f"inferred, although the kernel trace shows {kernel}",
                    None if source.startswith("inferred from the packets: ") and inferred == state else
                    f"the packets show {inferred}, not {state}")


def _receiver(g: dict, ctx: Ctx) -> str:
    _, _, receiver = _reset(ctx)
    if ctx.side(g["receiver"]) != receiver:
        raise Unverifiable(f"the RST reached the {receiver}, not the {g['receiver']}")
    return receiver


def _why_epipe(g: dict, ctx: Ctx) -> list[str]:
    receiver = _receiver(g, ctx)
    seen = [c for c in failed_calls(ctx, receiver) if c.errno == "EPIPE"]
    return problems(*_state_problems(ctx, g["source"], "CLOSE_WAIT"), None if seen else "strace saw no EPIPE")


def _none_failed(g: dict, ctx: Ctx) -> list[str]:
    receiver = _receiver(g, ctx)
    rst = ctx.conn.first(None, RST)
    failed = [c for c in failed_calls(ctx, receiver) if c.ts_ns > rst.ts_ns]
    return problems(*_state_problems(ctx, g["source"], "CLOSE_WAIT"),
                    None if ctx.conn.calls(receiver) else f"strace has no call of the {receiver}",
                    f"{call_name(failed[0])} failed with {failed[0].errno}" if failed else None)


def _why_state(g: dict, ctx: Ctx) -> list[str]:
    _receiver(g, ctx)
    return problems(*_state_problems(ctx, g["source"], g["state"]),
                    None if bool(g["in"]) == (g["state"] != "ESTABLISHED") else "in?")


def _tcp_reset(ctx: Ctx) -> tuple[str, str | None]:
    state = ctx.earlier("why.state")["state"]
    return state, TCP_RESET.get(state, "ECONNRESET")


def _reported(g: dict, ctx: Ctx) -> list[str]:
    receiver = _receiver(g, ctx)
    state, errno = _tcp_reset(ctx)
    rst = ctx.conn.first(None, RST)
    where = g.get("seen_in") or ""
    if "strace" in where:
        seen = any(c.errno == g["errno"] for c in failed_calls(ctx, receiver))
    elif "application" in where:
        text = os.strerror(getattr(errnos, g["errno"])).lower()
        seen = any(e.get("errno") == g["errno"] or text in str(e.get("error", "")).lower() for e in ctx.conn.app_of(receiver))
    else:
        seen = _report(ctx, rst, receiver) == g["errno"]
    return problems(None if g["errno"] == errno else f"tcp_reset() gives {errno} in {state}",
                    None if seen else f"{g['errno']} was not seen where it says")


def _would(g: dict, ctx: Ctx) -> list[str]:
    state, errno = _tcp_reset(ctx)
    return problems(None if g["errno"] == errno else f"tcp_reset() gives {errno} in {state}",
                    None if g["subject"] == WOULD_FAIL.get(state, "its next read or write") else "which call?")


def _ignored(g: dict, ctx: Ctx) -> list[str]:
    state, errno = _tcp_reset(ctx)
    return [] if errno is None else [f"a RST in {state} is not ignored"]


def _only_first(g: dict, ctx: Ctx) -> list[str]:
    _, _, receiver = _reset(ctx)
    failed = [c.errno for c in failed_calls(ctx, receiver)]
    first = failed.index("ECONNRESET") if "ECONNRESET" in failed else None
    return problems(None if failed.count("ECONNRESET") == 1 else "not one ECONNRESET",
                    None if first is not None and "EPIPE" in failed[first:] and
                    all(e == "EPIPE" for e in failed[first + 1:]) else "not EPIPE after it")


def _unknown_syscalls(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(g["side"])
    return [f"strace does have calls of the {side}"] if ctx.conn.calls(side) else []


def _unknown_kernel(g: dict, ctx: Ctx) -> list[str]:
    rst, _, receiver = _reset(ctx)
    state = _kernel_state(ctx, rst, receiver)
    return [f"the kernel trace shows the {receiver}'s {state}"] if state else []


CHECKS: dict[str, Check] = {
    "syscall.failed": Check(rf"The (?P<side>.+?)'s (?P<next>next )?(?P<call>\w+\(\)) failed with (?P<errno>E[A-Z0-9]+)"
                            rf"(?: (?P<delay>{DURATION}) (?P<dir>later|earlier))? \(at (?P<t>{TIME}), strace\)", _failing),
    "syscall.send_failed": Check(rf"The kernel's sock_send_length reported (?P<errno>E[A-Z0-9]+) for the (?P<side>.+?)'s "
                                 rf"(?P<next>next )?send(?: (?P<delay>{DURATION}) (?P<dir>later|earlier))? \(at "
                                 rf"(?P<t>{TIME}), tracefs\)", lambda g, ctx: _failing({**g, "call": "sock_send_length()"}, ctx)),
    "syscall.role": Check(r": (?P<role>[^;:]+)", _role),
    "syscall.then": Check(rf"; its (?P<call>\w+\(\)) at (?P<t>{TIME}) then failed with (?P<errno>E[A-Z0-9]+)", _then),
    "layer.after_handler": Check(rf": (?P<library>.+?) finishing the response after the handler had returned \(the "
                                 rf"application logged \"(?P<said>.*)\" at (?P<t>{TIME})\)", _after_handler),
    "why.epipe": Check(r"Why EPIPE and not ECONNRESET: the RST arrived while the (?P<receiver>.+?)'s socket was in "
                       r"CLOSE_WAIT \((?P<source>.+)\); Linux reports a reset in CLOSE_WAIT as EPIPE, while a RST in "
                       r"ESTABLISHED gives ECONNRESET", _why_epipe),
    "why.none_failed": Check(r"No call of the (?P<receiver>.+?) failed after the RST \(strace\)\. The RST arrived while "
                             r"its socket was in CLOSE_WAIT \((?P<source>.+)\), so a later write would have failed with "
                             r"EPIPE, not ECONNRESET \(a RST in ESTABLISHED gives ECONNRESET\)", _none_failed),
    "why.state": Check(r"The RST arrived while the (?P<receiver>.+?)'s socket was (?P<in>in )?(?P<state>[A-Z_0-9]+) "
                       r"\((?P<source>.+)\)", _why_state),
    "why.reported": Check(r", so the kernel reported (?P<errno>E[A-Z]+) to the (?P<receiver>.+?)"
                          r"(?P<seen_in> \(strace\)| \(the .+?'s application log\))?", _reported),
    "why.would": Check(r": (?P<subject>.+?) would fail with (?P<errno>E[A-Z]+) \(Linux's tcp_reset\(\)\)", _would),
    "why.ignored": Check(r": the kernel ignores a RST in that state \(no error\)", _ignored),
    "why.only_first": Check(r"\. Only the first call to look sees ECONNRESET; after that the socket is closed for sending "
                            r"and every later write fails with EPIPE", _only_first),
    "unknown.syscalls": Check(r"Without strace of the (?P<side>.+?), its calls on this connection are not observed: which "
                              r"of them failed, and with which errno, cannot be known", _unknown_syscalls),
    "unknown.kernel": Check(r"(?:Without|; without) the kernel trace, the RST's reason and the socket states are inferred "
                            r"from the packets", _unknown_kernel),
}
