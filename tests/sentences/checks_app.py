"""Checkers of what the application saw (app.*): its error, an abort it logged, nothing at all, nothing known."""

from __future__ import annotations

from tests.sentences.checking import LIBRARIES, Check, Ctx, Unverifiable, apart, app_text, at, call_name, failed_calls
from tests.sentences.conn import other
from tests.sentences.measure import DURATION, TIME, problems
from tests.sentences.raw import FIN, RST

QUOTED = r"\"(?P<text>.*)\" at (?P<t>" + TIME + r")"


def _line(ctx: Ctx, side: str | None, text: str, t: str, events: tuple[str, ...] = ()) -> dict:
    """The app.jsonl line a clause quotes: of ``side`` (None: either) on this connection, with that text and time."""
    for s, event in ctx.conn.app:
        if (side is None or s == side) and app_text(event) == text and (not events or event.get("event") in events) \
                and at(ctx, t, event["ts_ns"]) is None:
            return event
    raise Unverifiable(f"no app.jsonl line {text!r} at {t} for this connection")


def _is_error(event: dict) -> bool:
    return bool(event.get("errno")) or event.get("event") in ("write_error", "read_error") or \
        (bool(event.get("error")) and event.get("event") not in ("abort",))


def _runtime(g: dict, ctx: Ctx) -> list[str]:
    event = _line(ctx, None, g["text"], g["t"])
    side = next(s for s, e in ctx.conn.app if e is event)
    fin = ctx.conn.first(side, FIN)
    return problems(None if _is_error(event) else "that line is no error",
                    None if ctx.conn.calls(side) else f"strace has no call of the {side}",
                    "a syscall failed" if [c for _, c in ctx.conn.syscalls if c.failed] else None,
                    None if fin is not None and fin.ts_ns < event["ts_ns"] else f"the {side} had not closed before")


def _reached(g: dict, ctx: Ctx) -> list[str]:
    event = _line(ctx, None, g["text"], g["t"])
    return [] if _is_error(event) else ["that line is no error"]


def _abort(g: dict, ctx: Ctx) -> tuple[str, str, dict]:
    side, closer = ctx.side(g["side"]), ctx.side(g["closer"])
    event = _line(ctx, side, g["text"], g["t"], ("abort",))
    close = ctx.conn.first_close(closer)
    if close is None or close.ts_ns > event["ts_ns"]:
        raise Unverifiable(f"the {closer} had not closed when the application logged it")
    return side, closer, event


def _noticed(g: dict, ctx: Ctx) -> list[str]:
    _, closer, _ = _abort(g, ctx)
    return [] if ctx.conn.first(closer, RST) else [f"the {closer} never reset: it may not have gone"]


def _half_closed(g: dict, ctx: Ctx) -> list[str]:
    side, closer, _ = _abort(g, ctx)
    ends = [ctx.conn.seq_end(p) for p in ctx.conn.by(side, after=ctx.conn.first(closer, FIN).frame) if p.length]
    acked = ctx.conn.max_ack(closer, ctx.conn.packets[-1].frame)
    return problems("the closer reset" if ctx.conn.first(closer, RST) else None,
                    None if ends and acked is not None and acked >= max(ends) else "it did not keep reading")


def _skipped(g: dict, ctx: Ctx) -> list[str]:
    earlier = ctx.earlier("app.half_closed")
    event = _line(ctx, ctx.side(earlier["side"]), earlier["text"], earlier["t"], ("abort",))
    return [] if event.get("asked") == int(g["body"]) else [f"it said {event.get('asked')} bytes"]


def _gave_up(g: dict, ctx: Ctx) -> list[str]:
    _abort(g, ctx)
    return []


def _writer(ctx: Ctx) -> str:
    failed = [s for s, c in ctx.conn.syscalls if c.failed]
    if not failed:
        raise Unverifiable("no syscall failed")
    return failed[0]


def _no_app_error(ctx: Ctx, side: str) -> list[str]:
    lines = ctx.conn.app_of(side)
    seen = [e for e in lines if _is_error(e) or e.get("event") == "abort"]
    return problems(None if lines else f"the {side}'s application logged nothing for this connection",
                    f"it logged {app_text(seen[0])!r}" if seen else None)


def _never_wrote(g: dict, ctx: Ctx) -> list[str]:
    side = _writer(ctx)
    writes = [e for e in ctx.conn.app if e[1].get("event") == "write" and not e[1].get("error")]
    last = writes[-1][1] if writes else None
    _, failing = _failing_write(ctx)
    return problems(*_no_app_error(ctx, side),
                    None if last and last.get("written") == int(g["n"]) else "its last write was not of that size",
                    at(ctx, g["t"], last["ts_ns"]) if last else None,
                    None if not g["order"] or (last and last["ts_ns"] <= failing.ts_ns) else "not before")


def _never_logged(g: dict, ctx: Ctx) -> list[str]:
    return _no_app_error(ctx, _writer(ctx))


def _failing_write(ctx: Ctx):
    """The side whose call failed first, and its first failing write (the one the words say a library made)."""
    side = _writer(ctx)
    writes = [c for c in failed_calls(ctx, side) if c.is_write]
    if not writes:
        raise Unverifiable(f"no write of the {side} failed")
    return side, writes[0]


def _read_only(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(g["side"])
    first = failed_calls(ctx, side)[0] if failed_calls(ctx, side) else None
    writes = [c for _, c in ctx.conn.syscalls if c.failed and c.is_write]
    return problems(*_no_app_error(ctx, side), f"{call_name(writes[0])} failed" if writes else None,
                    None if first and (call_name(first), first.errno) == (g["call"], g["errno"]) else "which call?",
                    at(ctx, g["t"], first.ts_ns) if first else None)


def _library_wrote(g: dict, ctx: Ctx) -> list[str]:
    side, failing = _failing_write(ctx)
    response = _line(ctx, side, g["said"], g["t"], ("response",))
    sent = ctx.conn.payload(side, before=next((p.frame for p in ctx.conn.packets if p.ts_ns > failing.ts_ns), None))
    return problems(None if g["library"] == LIBRARIES.get(ctx.bundle.impl("server") or "", "the server's HTTP library")
                    else "which library?", None if response["ts_ns"] < failing.ts_ns else "the handler returned after",
                    None if failing.errno == g["errno"] else f"the failing write got {failing.errno}",
                    None if (g["what"] == "the rest of the response") == (sent > 0) else f"{sent} bytes had gone out")


def _library_got(g: dict, ctx: Ctx) -> list[str]:
    _, failing = _failing_write(ctx)
    return [] if failing.errno == g["errno"] else [f"the failing write got {failing.errno}"]


def _earlier_error(g: dict, ctx: Ctx) -> list[str]:
    side, failing = _failing_write(ctx)
    first = failed_calls(ctx, side)[0]
    return problems(None if first is not failing and (call_name(first), first.errno) == (g["call"], g["errno"]) else
                    f"the first failing call is {call_name(first)} with {first.errno}",
                    apart(g["delay"], failing.ts_ns - first.ts_ns))


def _swallowed(g: dict, ctx: Ctx) -> list[str]:
    side, failing = _failing_write(ctx)
    both = failed_calls(ctx, side)[0] is not failing
    return problems(*_no_app_error(ctx, side), None if (g["what"] == "both") == both else "it or both?")


def _unknown(g: dict, ctx: Ctx) -> list[str]:
    closer = (ctx.conn.first(None, FIN) or ctx.conn.first(None, RST))
    writer = other(ctx.conn.side_of(closer)) if closer else "server"
    return [f"the {writer}'s application logged {len(ctx.conn.app_of(writer))} lines"] if ctx.conn.app_of(writer) else []


CHECKS: dict[str, Check] = {
    "app.runtime": Check(rf"The application reported {QUOTED}, but no syscall failed \(strace\): the error came from its "
                         r"runtime, which refused to write on a connection it had already closed, not from the kernel",
                         _runtime),
    "app.reached": Check(rf"The error reached the application: it reported {QUOTED}", _reached),
    "app.noticed": Check(rf"The (?P<side>.+?)'s application noticed that the (?P<closer>.+?) had gone: it reported {QUOTED}",
                         _noticed),
    "app.half_closed": Check(rf"The (?P<side>.+?)'s application took the (?P<closer>.+?)'s FIN for the (?P=closer) going "
                             rf"away: it reported {QUOTED}, although the (?P=closer) had only half-closed and kept reading",
                             _half_closed),
    "app.skipped": Check(r", and skipped its (?P<body>\d+)-byte body", _skipped),
    "app.gave_up": Check(rf"The (?P<side>.+?)'s application gave up after the (?P<closer>.+?)'s FIN: it reported {QUOTED}",
                         _gave_up),
    "app.never_wrote": Check(rf"The error never reached the application: it recorded a successful write of (?P<n>\d+) "
                             rf"bytes at (?P<t>{TIME})(?P<order>, before the failing syscall)?", _never_wrote),
    "app.never_logged": Check(r"The error never reached the application: it logged no error", _never_logged),
    "app.library_wrote": Check(rf"; (?P<library>.+?) wrote (?P<what>the rest of the response|the response) after the "
                               rf"handler had returned \(the application logged \"(?P<said>.*)\" at (?P<t>{TIME})\), got "
                               r"(?P<errno>E[A-Z]+)", _library_wrote),
    "app.library_got": Check(r"; (?P<library>.+?) got (?P<errno>E[A-Z]+)", _library_got),
    "app.earlier_error": Check(rf" \(the (?P<side>.+?)'s (?P<call>\w+\(\)) had got (?P<errno>E[A-Z]+) (?P<delay>{DURATION}) "
                               r"earlier\)", _earlier_error),
    "app.swallowed": Check(r", and swallowed (?P<what>it|both) \(only the (?:syscall|syscalls) saw (?:the error|them)\)",
                           _swallowed),
    "app.read_only": Check(rf"The application logged no error: no write failed, only the (?P<side>.+?)'s "
                           rf"(?P<call>\w+\(\)), with (?P<errno>E[A-Z]+) at (?P<t>{TIME})", _read_only),
    "app.unknown": Check(r"Whether the error reached the application cannot be known without the application's log "
                         r"\(app\.jsonl or --applog\)", _unknown),
}
