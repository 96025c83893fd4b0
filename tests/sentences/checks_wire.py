"""Checkers of what the packets show: the late write and the RST that answered it (late.sent, rst.answer), the
bytes (bytes.*, download.*), half-closes and the quieter endings (half.*, end.*)."""

from __future__ import annotations

from tests.sentences.checking import REASON, Check, Ctx, Unverifiable, apart, at, packet, reason_problems
from tests.sentences.conn import other
from tests.sentences.measure import DURATION, FRAME, TIME, problems
from tests.sentences.raw import FIN, RST, SYN, Packet


def _fin_and_late(ctx: Ctx, closer: str) -> tuple[Packet, Packet | None]:
    """The closer's FIN (the connection's first) and the other side's first payload after it."""
    fin = ctx.conn.first(closer, FIN)
    first = ctx.conn.first(None, FIN)
    if fin is None or first.frame != fin.frame:
        raise Unverifiable(f"the {closer}'s FIN is not the connection's first")
    late = [p for p in ctx.conn.by(other(closer), after=fin.frame) if p.length]
    return fin, late[0] if late else None


def _late_sent(g: dict, ctx: Ctx) -> list[str]:
    writer = ctx.side(g["writer"])
    fin, late = _fin_and_late(ctx, other(writer))
    p = packet(ctx, g["frame"], writer)
    return problems(None if late is not None and late.frame == p.frame else "not the first payload after that FIN",
                    None if p.length == int(g["n"]) else f"it carries {p.length} bytes",
                    at(ctx, g["t"], p.ts_ns), apart(g["delay"], p.ts_ns - fin.ts_ns))


def _write_after_fin(ctx: Ctx):
    """The writer's first successful write call after the closer's FIN (strace), and the writer."""
    writer = ctx.side(ctx.earlier("late.sent")["writer"])
    fin = ctx.conn.first(other(writer), FIN)
    calls = [c for c in ctx.conn.calls(writer) if c.is_write and not c.errno and c.ts_ns > fin.ts_ns]
    if not calls:
        raise Unverifiable(f"strace shows no write of the {writer} after the FIN")
    return writer, calls[0]


def _returned(g: dict, ctx: Ctx) -> list[str]:
    _, call = _write_after_fin(ctx)
    return [] if (f"{call.name}()", call.ret) == (g["call"], int(g["n"])) else [f"it was {call.name}() = {call.ret}"]


def _unaware(g: dict, ctx: Ctx) -> list[str]:
    writer, call = _write_after_fin(ctx)
    closer = ctx.side(g["closer"])
    knew = [e for e in ctx.conn.app_of(writer) if e["ts_ns"] < call.ts_ns and (e.get("event") == "abort" or e.get("error"))]
    return problems(None if ctx.side(g["writer"]) == writer and closer == other(writer) else "sides?",
                    f"its application had logged {knew[0].get('error')!r} before" if knew else None,
                    None if ctx.conn.first(closer, RST) else f"the {closer} never reset: it may not have gone")


def _rst_answer(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(g["closer"])
    _, late = _fin_and_late(ctx, closer)
    rst = packet(ctx, g["frame"], closer, RST)
    resets = ctx.conn.by(closer, RST, after=late.frame if late else 10**9)
    return problems(None if resets and resets[0].frame == rst.frame else "not the closer's first RST after the late data",
                    apart(g["delay"], rst.ts_ns - late.ts_ns), *reason_problems(g, ctx, rst))


def _bytes_after_fin(g: dict, ctx: Ctx) -> list[str]:
    writer, closer = ctx.side(g["writer"]), ctx.side(g["closer"])
    fin, _ = _fin_and_late(ctx, closer)
    sent = ctx.conn.payload(writer, after=fin.frame)
    return [] if sent == int(g["n"]) and writer == other(closer) else [f"the {writer} sent {sent} bytes after that FIN"]


def _unacked(ctx: Ctx, sender: str, rst: Packet) -> int:
    """The peer's payload up to the RST that its sender had not acknowledged (by sequence numbers; the RST's own
    acknowledgement field counts)."""
    peer = other(sender)
    ends = [ctx.conn.seq_end(p) for p in ctx.conn.by(peer, before=rst.frame + 1) if p.length]
    acked = ctx.conn.max_ack(sender, rst.frame, with_rst=True)
    return max(max(ends) - acked, 0) if ends and acked is not None else 0


def _bytes_lost(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(ctx.earlier("bytes.after_fin")["closer"])
    rst = ctx.conn.first(None, RST)
    lost = _unacked(ctx, ctx.conn.side_of(rst), rst) if rst else None
    return [] if lost == int(g["lost"]) and rst.frame == ctx.conn.first(closer, RST).frame else [f"unacknowledged: {lost}"]


def _bytes_acked(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(g["closer"])
    writer = other(closer)
    ends = [ctx.conn.seq_end(p) for p in ctx.conn.by(writer) if p.length]
    acked = ctx.conn.max_ack(closer, ctx.conn.packets[-1].frame)
    return [] if ends and acked is not None and acked >= max(ends) else [f"the {closer} did not acknowledge them all"]


def _reset_of(ctx: Ctx, sender_word: str) -> tuple[str, str, Packet]:
    sender = ctx.side(sender_word)
    rst = ctx.conn.first(None, RST)
    if rst is None or ctx.conn.side_of(rst) != sender:
        raise Unverifiable(f"the first RST is not the {sender}'s")
    return sender, other(sender), rst


def _delivered(g: dict, ctx: Ctx) -> list[str]:
    sender, peer, rst = _reset_of(ctx, g["sender"])
    fin = ctx.conn.first(peer, FIN)
    return problems(None if ctx.side(g["peer"]) == peer else "peer?",
                    None if ctx.conn.payload(peer) else f"the {peer} sent nothing",
                    None if ctx.conn.payload(peer, after=rst.frame) == 0 else "it sent more after the RST",
                    None if _unacked(ctx, sender, rst) == 0 else "not all of it was acknowledged",
                    None if bool(g["whole"]) == (fin is not None and fin.frame < rst.frame) else "its FIN?")


def _download_unacked(g: dict, ctx: Ctx) -> list[str]:
    sender, peer, rst = _reset_of(ctx, g["sender"])
    lost = _unacked(ctx, sender, rst) + ctx.conn.payload(peer, after=rst.frame)
    return problems(None if ctx.side(g["peer"]) == peer else "peer?", None if lost == int(g["lost"]) else f"{lost} bytes were lost")


def _stopped_reading(g: dict, ctx: Ctx) -> list[str]:
    sender, _, rst = _reset_of(ctx, g["sender"])
    start = packet(ctx, f"frame {g['frame']}", sender)
    plain = [p for p in ctx.conn.by(sender, before=rst.frame) if not p.has(SYN | RST)]
    run = [p for p in plain if p.frame >= start.frame]
    before_run = [p for p in plain if p.frame < start.frame]
    return problems(None if run and all(p.win == 0 for p in run) else "its window was not 0 all the way to the RST",
                    None if not before_run or before_run[-1].win != 0 else "the zero window started earlier",
                    at(ctx, g["t"], start.ts_ns), apart(g["delay"], rst.ts_ns - start.ts_ns))


def _half_ack(g: dict, ctx: Ctx, closer: str) -> list[str]:
    writer = other(closer)
    fin, _ = _fin_and_late(ctx, closer)
    ack = packet(ctx, g["frame"], closer)
    late_ends = [ctx.conn.seq_end(p) for p in ctx.conn.by(writer, after=fin.frame) if p.length]
    covering = [p for p in ctx.conn.by(closer, after=fin.frame) if not p.has(RST) and late_ends
                and ctx.conn.acked(p) >= max(late_ends)]
    return problems(None if covering and covering[0].frame == ack.frame else "not the first ACK of all the late bytes",
                    at(ctx, g["t"], ack.ts_ns))


def _half_clean(g: dict, ctx: Ctx) -> list[str]:
    closer, writer = ctx.side(g["closer"]), ctx.side(g["writer"])
    fin, _ = _fin_and_late(ctx, closer)
    n = ctx.conn.payload(writer, after=fin.frame)
    return problems(None if n == int(g["n"]) else f"{n} bytes after the FIN", *_half_ack(g, ctx, closer))


def _half_cut(g: dict, ctx: Ctx) -> list[str]:
    closer, writer = ctx.side(g["closer"]), ctx.side(g["writer"])
    sent = ctx.conn.payload(writer)
    out = problems(None if sent == int(g["sent"]) else f"the {writer} sent {sent} bytes", *_half_ack(g, ctx, closer))
    if g.get("body"):
        said = {e.get("asked") for e in ctx.conn.app_of(writer, "abort")} | \
               {e.get("written") for e in ctx.conn.app_of(writer, "write")}
        out += problems(None if int(g["body"]) in said else f"its application never said {g['body']} bytes",
                        None if sent < int(g["body"]) else "it sent the whole body")
    return out


def _writer_fin(g: dict, ctx: Ctx) -> list[str]:
    writer = ctx.side(g["writer"])
    fin = packet(ctx, g["frame"], writer, FIN)
    return problems(None if ctx.conn.first(writer, FIN).frame == fin.frame else "not its first FIN", at(ctx, g["t"], fin.ts_ns))


def _no_rst(g: dict, ctx: Ctx) -> list[str]:
    return [f"frame {p.frame} is a RST" for p in ctx.conn.packets if p.has(RST)][:1]


def _no_error(g: dict, ctx: Ctx) -> list[str]:
    failed = [c for _, c in ctx.conn.syscalls if c.failed]
    errors = [e for _, e in ctx.conn.app if e.get("error") or e.get("errno")]
    return problems(*_no_rst(g, ctx), f"{failed[0].name}() failed with {failed[0].errno}" if failed else None,
                    f"the application logged {errors[0].get('error')!r}" if errors else None)


def _unanswered(g: dict, ctx: Ctx) -> list[str]:
    server, client = ctx.side(g["server"]), ctx.side(g["client"])
    out = problems(None if (client, server) == ("client", "server") else "sides?",
                   None if ctx.conn.payload(server) == 0 else "the server sent payload",
                   None if ctx.conn.payload(client) == int(g["n"]) else f"the request had {ctx.conn.payload(client)} bytes")
    if g.get("frame"):
        fin = packet(ctx, g["frame"], server, FIN)
        out += problems(at(ctx, g["t"], fin.ts_ns))
    return out


def _normal(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(g["closer"])
    fins = {s: ctx.conn.first(s, FIN) for s in ("client", "server")}
    return problems(None if all(fins.values()) else "not both sides sent FIN", *_no_rst(g, ctx),
                    None if all(fins.values()) and fins[closer].frame < fins[other(closer)].frame else "not first")


def _open(g: dict, ctx: Ctx) -> list[str]:
    closes = [p for p in ctx.conn.packets if p.has(FIN | RST)]
    return problems(f"frame {closes[0].frame} closes it" if closes else None,
                    None if len(ctx.conn.packets) == int(g["n"]) else f"{len(ctx.conn.packets)} packets")


def _one_sided(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(g["closer"])
    return problems(None if ctx.conn.first(closer, FIN) else f"the {closer} sent no FIN",
                    "the other side closed" if ctx.conn.first_close(other(closer)) else None)


CHECKS: dict[str, Check] = {
    "late.sent": Check(rf"The (?P<writer>.+?) wrote (?P<n>\d+) bytes at (?P<t>{TIME}) \((?P<frame>{FRAME})\), "
                       rf"(?P<delay>{DURATION}) after that FIN", _late_sent),
    "late.returned": Check(r"; its (?P<call>\w+\(\)) returned (?P<n>\d+) \(strace\)", _returned),
    "late.unaware": Check(r", so the (?P<writer>.+?) could not tell the (?P<closer>.+?) was gone", _unaware),
    "rst.answer": Check(rf"The (?P<closer>.+?)'s kernel answered with RST after (?P<delay>{DURATION}) "
                        rf"\((?P<frame>{FRAME}){REASON}\)", _rst_answer),
    "bytes.after_fin": Check(r"The (?P<writer>.+?) sent (?P<n>\d+) bytes after the (?P<closer>.+?)'s FIN", _bytes_after_fin),
    "bytes.lost": Check(r"; (?P<lost>\d+) of them were never acknowledged before the RST: lost", _bytes_lost),
    "bytes.acked": Check(r"; the (?P<closer>.+?) acknowledged them", _bytes_acked),
    "download.delivered": Check(r"The (?P<sender>.+?)'s kernel had received everything the (?P<peer>.+?) had sent"
                                r"(?P<whole> \(all it had to send: its FIN came first\))?: its acknowledgements, up to "
                                r"the RST's own, cover all of it, so none of it was lost on the wire", _delivered),
    "download.unacked": Check(r"(?P<lost>\d+) bytes the (?P<peer>.+?) sent were never acknowledged by the (?P<sender>.+?): "
                              r"lost to its RST", _download_unacked),
    "download.stopped_reading": Check(rf"The (?P<sender>.+?) had stopped reading before it reset: it advertised a zero "
                                      rf"window from (?P<t>{TIME}) \(frame (?P<frame>\d+)\) until its RST, "
                                      rf"(?P<delay>{DURATION}) later", _stopped_reading),
    "half.clean": Check(rf"The (?P<closer>.+?) only half-closed: it acknowledged the (?P<writer>.+?)'s (?P<n>\d+) bytes "
                        rf"sent after its FIN \((?P<frame>{FRAME}) at (?P<t>{TIME})\)", _half_clean),
    "half.cut": Check(rf"The (?P<closer>.+?) only half-closed and kept reading, but got (?P<sent>\d+) bytes in all from "
                      rf"the (?P<writer>.+?)(?:, fewer than the (?P<body>\d+)-byte body its application was to send)?: "
                      rf"it acknowledged them \((?P<frame>{FRAME}) at (?P<t>{TIME})\)", _half_cut),
    "half.writer_fin": Check(rf", and the (?P<writer>.+?) closed too at (?P<t>{TIME}) \((?P<frame>{FRAME})\)", _writer_fin),
    "half.no_error": Check(r"; no RST, no error", _no_error),
    "half.no_rst": Check(r"; no RST", _no_rst),
    "end.unanswered": Check(rf"The (?P<server>.+?) sent no response to the (?P<client>.+?)'s (?P<n>\d+)-byte request"
                            rf"(?:; it closed too at (?P<t>{TIME}) \((?P<frame>{FRAME})\))?", _unanswered),
    "end.normal": Check(r"Both sides closed with FIN \(the (?P<closer>.+?) first\); no RST", _normal),
    "end.open": Check(r"No FIN and no RST: the connection was still open when the capture ended \((?P<n>\d+) packets\)",
                      _open),
    "end.one_sided": Check(r"Only the (?P<closer>.+?) sent FIN; the capture ended before the other side closed", _one_sided),
}
