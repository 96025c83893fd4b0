"""Checkers of the one-line summaries: each verdict's claim, recomputed (summary.<VERDICT>, summary.calls)."""

from __future__ import annotations

from tests.sentences.checking import Check, Ctx, app_text, call_name, failed_calls
from tests.sentences.checks_app import _is_error
from tests.sentences.conn import other
from tests.sentences.measure import problems
from tests.sentences.raw import ACK, FIN, RST, SYN

SIDE = r"(?P<{}>client|server|proxy|upstream server)"


def _first_fin_side(ctx: Ctx) -> str | None:
    fin = ctx.conn.first(None, FIN)
    return ctx.conn.side_of(fin) if fin else None


def _late(ctx: Ctx, closer: str):
    fin = ctx.conn.first(closer, FIN)
    late = [p for p in ctx.conn.by(other(closer), after=fin.frame) if p.length] if fin else []
    return fin, (late[0] if late else None)


def _answered(ctx: Ctx, closer: str) -> list[str]:
    """The writer sent payload after the closer's (first) FIN, and the closer answered it with RST."""
    fin, late = _late(ctx, closer)
    rst = ctx.conn.by(closer, RST, after=late.frame) if late else []
    return problems(None if fin and _first_fin_side(ctx) == closer else f"the {closer}'s FIN did not come first",
                    None if late else "no payload after that FIN", None if rst else "no RST answered it")


def _aborted(ctx: Ctx, side: str) -> list[str]:
    rst = ctx.conn.first(None, RST)
    first = ctx.conn.first_close(side)
    return problems(None if rst and ctx.conn.side_of(rst) == side else f"the first RST is not the {side}'s",
                    None if first is not None and first.has(RST) else f"the {side} closed with FIN first")


def _refused(g, ctx):
    syn = ctx.conn.first("client", SYN)
    return problems(None if syn else "no SYN", None if ctx.conn.first("server", RST) else "no RST",
                    "a SYN-ACK came" if any(p.has(SYN) and p.has(ACK) for p in ctx.conn.by("server")) else None)


def _swallowed(g, ctx):
    writer = ctx.side(g["writer"])
    lines = ctx.conn.app_of(writer)
    saw = [e for e in lines if _is_error(e) or e.get("event") == "abort"]
    return problems(None if [c for c in failed_calls(ctx, writer) if c.is_write] else f"no write of the {writer} failed",
                    None if lines else f"the {writer}'s application logged nothing here",
                    f"it logged {app_text(saw[0])!r}" if saw else None)


def _epipe(g, ctx):
    closer, writer = ctx.side(g["closer"]), ctx.side(g["writer"])
    rst = ctx.conn.first(closer, RST)
    epipe = [c for c in failed_calls(ctx, writer) if c.is_write and c.errno == "EPIPE" and rst and c.ts_ns > rst.ts_ns]
    return problems(*_answered(ctx, closer), None if epipe else "no write failed with EPIPE after the RST")


def _econnreset(g, ctx):
    server = ctx.side(g["server"])
    return problems(*_aborted(ctx, ctx.side(g["client"])), None if failed_calls(ctx, server) else "no call failed",
                    None if any(c.errno == "ECONNRESET" for c in failed_calls(ctx, server)) else "no ECONNRESET")


def _calls(g, ctx):
    failed = [c for _, c in ctx.conn.syscalls if c.failed]
    writes = [c for c in failed if c.is_write]
    then = f", then {call_name(writes[0])} with {writes[0].errno}" if writes and writes[0] is not failed[0] else ""
    said = f"{g['call']} with {g['errno']}{g['then'] or ''}"
    return [] if failed and said == f"{call_name(failed[0])} with {failed[0].errno}{then}" else [f"calls: {said}"]


def _app_without_syscall_error(g, ctx):
    errors = [e for _, e in ctx.conn.app if _is_error(e)]
    return problems(None if errors else "no application error", None if ctx.conn.syscalls else "no traced call",
                    "a syscall failed" if [c for _, c in ctx.conn.syscalls if c.failed] else None,
                    "a RST was sent" if ctx.conn.first(None, RST) else None)


def _half_close(ctx: Ctx, closer: str) -> list[str]:
    fin, late = _late(ctx, closer)
    ends = [ctx.conn.seq_end(p) for p in ctx.conn.by(other(closer), after=fin.frame) if p.length] if fin else []
    acked = ctx.conn.max_ack(closer, ctx.conn.packets[-1].frame)
    return problems(None if late else "no payload after the FIN", "a RST" if ctx.conn.first(None, RST) else None,
                    None if ends and acked is not None and acked >= max(ends) else "not acknowledged")


def _cut(g, ctx):
    writer = ctx.side(g["writer"])
    gave_up = ctx.conn.app_of(writer, "abort")
    return problems(*_half_close(ctx, ctx.side(g["closer"])), None if gave_up else "its application gave nothing up")


def _closed_before_response(g, ctx):
    return problems(None if _first_fin_side(ctx) == "client" else "the client did not close first",
                    None if ctx.conn.payload("client") else "no request", "the server answered" if
                    ctx.conn.payload("server") else None, "a RST" if ctx.conn.first(None, RST) else None)


def _both_fin(g, ctx):
    return problems(None if ctx.conn.first("client", FIN) and ctx.conn.first("server", FIN) else "not both FIN",
                    "a RST" if ctx.conn.first(None, RST) else None)


def _rst_after_close(g, ctx):
    fin, rst = ctx.conn.first(None, FIN), ctx.conn.first(None, RST)
    return [] if fin and rst and fin.frame < rst.frame else ["no RST after a FIN"]


def _one_sided(g, ctx):
    fins = [s for s in ("client", "server") if ctx.conn.first(s, FIN)]
    return problems(None if len(fins) == 1 else f"FINs from {fins}", "a RST" if ctx.conn.first(None, RST) else None)


def _open(g, ctx):
    return ["it closed"] if any(p.has(FIN | RST) for p in ctx.conn.packets) else []


def _s(name: str) -> str:
    return SIDE.format(name)


CHECKS: dict[str, Check] = {
    "summary.REFUSED": Check(r"connection refused: the SYN was answered by RST", _refused),
    "summary.ERROR_SWALLOWED_BY_APP": Check(rf"the {_s('writer')}'s write failed but the application never saw the "
                                            r"error", _swallowed),
    "summary.WRITE_AFTER_PEER_FIN_RST_EPIPE": Check(rf"the {_s('writer')} wrote after the {_s('closer')}'s FIN, got RST, "
                                                    r"and its next write failed with EPIPE", _epipe),
    "summary.RST_BY_CLIENT_ECONNRESET": Check(rf"the {_s('client')} aborted with RST, and the {_s('server')}'s calls failed",
                                              _econnreset),
    "summary.calls": Check(r": (?P<call>\w+\(\)) with (?P<errno>E[A-Z]+)(?P<then>, then \w+\(\) with E[A-Z]+)?", _calls),
    "summary.WRITE_AFTER_PEER_FIN_RST": Check(rf"the {_s('writer')} sent data after the {_s('closer')}'s FIN and the "
                                              r"(?P=closer) answered with RST",
                                              lambda g, ctx: _answered(ctx, ctx.side(g["closer"]))),
    "summary.RST_BY_CLIENT": Check(rf"the {_s('client')} aborted the connection with RST",
                                   lambda g, ctx: _aborted(ctx, ctx.side(g["client"]))),
    "summary.RST_BY_SERVER": Check(rf"the {_s('server')} aborted the connection with RST",
                                   lambda g, ctx: _aborted(ctx, ctx.side(g["server"]))),
    "summary.APP_ERROR_WITHOUT_SYSCALL_ERROR": Check(r"the application reported an error, but no syscall failed and no RST "
                                                     r"was sent: its runtime refused the write", _app_without_syscall_error),
    "summary.HALF_CLOSE_RESPONSE_CUT": Check(rf"half-close: the {_s('closer')} closed only its direction and kept reading, "
                                             rf"but the {_s('writer')} took it for gone and cut its response short", _cut),
    "summary.HALF_CLOSE_CLEAN": Check(rf"half-close: the {_s('closer')} closed its direction and still received the "
                                      rf"{_s('writer')}'s data", lambda g, ctx: _half_close(ctx, ctx.side(g["closer"]))),
    "summary.CLOSED_BEFORE_RESPONSE": Check(rf"the {_s('client')} closed \(FIN\) while its request was pending; the "
                                            rf"{_s('server')} sent no response", _closed_before_response),
    "summary.NORMAL_CLOSE": Check(r"normal close: FIN from both sides, no RST", _both_fin),
    "summary.RST_AFTER_CLOSE": Check(r"closed with FIN, then a RST", _rst_after_close),
    "summary.ONE_SIDED_CLOSE": Check(r"only one side closed \(FIN\) before the capture ended", _one_sided),
    "summary.OPEN": Check(r"still open when the capture ended \(no FIN, no RST\)", _open),
}
