"""Checkers of how a connection ended (close.*) and of proxy chains (chain.*)."""

from __future__ import annotations

from tests.sentences.checking import (PROXY_NAMES, REASON, Check, Ctx, Unverifiable, apart, at, call_name, packet,
                                      reason_problems)
from tests.sentences.conn import Conn, proxy_pair
from tests.sentences.measure import FRAME, TIME, problems
from tests.sentences.raw import FIN, RST, SYN

PENDING = r"(?P<pending> while the request was pending \(the (?P<peer>.+?) had sent no data yet\))?"


def _pending(g: dict, ctx: Ctx, side: str, close_frame: int) -> list[str]:
    """The request was pending when ``side`` closed: it had sent payload, its peer nothing."""
    if not g.get("pending"):
        return []
    peer = ctx.side(g["peer"])
    return problems(
        None if side == "client" and peer == "server" else f"a pending request of the {side}?",
        None if ctx.conn.payload(side, before=close_frame) > 0 else f"the {side} had sent no request before it closed",
        None if ctx.conn.payload(peer, before=close_frame) == 0 else f"the {peer} had sent data before that close")


def _refused(g: dict, ctx: Ctx) -> list[str]:
    client = ctx.side(g["client"])
    rst = packet(ctx, g["frame"], "server" if client == "client" else "client", RST)
    syn = ctx.conn.first(client, SYN)
    answered = [p for p in ctx.conn.by(ctx.conn.side_of(rst)) if p.has(SYN)]
    return problems(at(ctx, g["t"], rst.ts_ns),
                    None if syn is not None and syn.frame < rst.frame else "no SYN of the client before that RST",
                    f"the server answered with SYN-ACK (frame {answered[0].frame})" if answered else None)


def _abort(g: dict, ctx: Ctx) -> list[str]:
    side = ctx.side(g["side"])
    rst = packet(ctx, g["frame"], side, RST)
    first = ctx.conn.first_close(side)
    return problems(at(ctx, g["t"], rst.ts_ns),
                    None if first is not None and first.frame == rst.frame else f"the {side} had closed before (FIN)",
                    *reason_problems(g, ctx, rst), *_pending(g, ctx, side, rst.frame))


def _fin(g: dict, ctx: Ctx) -> list[str]:
    closer = ctx.side(g["closer"])
    fin = packet(ctx, g["frame"], closer, FIN)
    first = ctx.conn.first(closer, FIN)
    return problems(at(ctx, g["t"], fin.ts_ns),
                    None if first.frame == fin.frame else f"the {closer}'s first FIN is frame {first.frame}",
                    *_pending(g, ctx, closer, fin.frame))


# -- proxy chains: the oracle pairs the connections by the ports meta.json records --

def _chain_ends(ctx: Ctx, other_flow: str) -> tuple[Conn, Conn]:
    """(the client's connection to the proxy, the proxy's to the upstream server) of a chain sentence."""
    pair = proxy_pair(ctx.bundle, ctx.conn)
    other = Conn.of(ctx.bundle, other_flow)
    if pair is None or {(c.client, c.server) for c in pair} != {(c.client, c.server) for c in (ctx.conn, other)}:
        raise Unverifiable(f"{other_flow} and this connection are not a proxy's two ends")
    return pair


def _impl(g: dict, ctx: Ctx) -> str | None:
    named = (g.get("impl") or "").strip(" ()")
    wanted = PROXY_NAMES.get(ctx.bundle.impl("proxy") or "", "")
    return None if named == wanted else f"the proxy is {ctx.bundle.impl('proxy')!r} (meta.json), not {named!r}"


def _closes(front: Conn, back: Conn, how: str, frame: int):
    client_close = front.first_close("client")
    if client_close is None or client_close.frame != frame or not client_close.has(FIN if how == "FIN" else RST):
        raise Unverifiable(f"the client's first close is not a {how} at frame {frame}")
    proxy_close = back.first_close("client")
    if proxy_close is None:
        raise Unverifiable("the proxy never closed its upstream connection")
    return client_close, proxy_close


def _front(g: dict, ctx: Ctx) -> list[str]:
    front, back = _chain_ends(ctx, g["other"])
    client_close, proxy_close = _closes(front, back, g["how"], int(g["frame"]))
    request = next((p for p in front.by("client") if p.length), None)
    return problems(_impl(g, ctx),
                    None if ctx.conn.server == front.server else "chain.front told on the upstream connection",
                    None if back.packets[0].frame == int(g["opened"]) else f"{g['other']} opened at frame {back.packets[0].frame}",
                    None if request and request.frame < back.packets[0].frame else "opened before the client's request",
                    apart(g["delay"], proxy_close.ts_ns - client_close.ts_ns),
                    None if proxy_close.ts_ns >= client_close.ts_ns else "the proxy closed before the client")


def _back(g: dict, ctx: Ctx) -> list[str]:
    front, back = _chain_ends(ctx, g["other"])
    client_close, proxy_close = _closes(front, back, g["how"], int(g["frame"]))
    return problems(_impl(g, ctx), None if ctx.conn.server == back.server else "chain.back told on the client's connection",
                    None if proxy_close.frame == int(g["proxy_frame"]) else f"the proxy closed at frame {proxy_close.frame}",
                    apart(g["delay"], proxy_close.ts_ns - client_close.ts_ns))


def _upstream(ctx: Ctx) -> Conn:
    earlier = ctx.earlier("chain.front", "chain.back")
    return _chain_ends(ctx, earlier["other"])[1]


def _upstream_reset(g: dict, ctx: Ctx) -> list[str]:
    back = _upstream(ctx)
    rst = back.frame(int(g["frame"]))
    proxy_close = back.first_close("client")
    late = [p for p in back.by("server", after=proxy_close.frame) if p.length]
    return problems(None if rst is not None and rst.has(RST) and back.side_of(rst) == "client" else
                    f"frame {g['frame']} is not the proxy's RST on the upstream connection",
                    None if late and rst is not None and late[0].frame < rst.frame else
                    "no write of the upstream server after the proxy's close came before that RST")


def _upstream_errno(g: dict, ctx: Ctx) -> list[str]:
    back = _upstream(ctx)
    failed = [c for c in back.calls("server") if c.failed and c.is_write]
    if not failed:
        return ["strace shows no failing write of the upstream server"]
    proxy_close = back.first_close("client")
    wrote = [c for c in back.calls("server") if c.is_write and not c.errno and c.ts_ns > proxy_close.ts_ns
             and c.ts_ns < failed[0].ts_ns]
    return problems(None if (call_name(failed[0]), failed[0].errno) == (g["call"], g["errno"]) else
                    f"its first failing write is {call_name(failed[0])} with {failed[0].errno}",
                    None if bool(g["next"]) == bool(wrote) else "next?")


CHECKS: dict[str, Check] = {
    "close.refused": Check(rf"The (?P<client>.+?)'s SYN was answered by RST at (?P<t>{TIME}) \((?P<frame>{FRAME})\): "
                           r"nothing accepted the connection", _refused),
    "close.abort": Check(rf"The (?P<side>.+?) aborted with RST at (?P<t>{TIME}) \((?P<frame>{FRAME}){REASON}\) "
                         rf"without a FIN{PENDING}", _abort),
    "close.fin": Check(rf"The (?P<closer>.+?) closed with FIN at (?P<t>{TIME}) \((?P<frame>{FRAME})\){PENDING}", _fin),
    "chain.front": Check(r"The proxy(?P<impl> \(.+?\))? forwarded this request over (?P<other>\S+) \(opened at frame "
                         r"(?P<opened>\d+)\) and closed that upstream connection (?P<delay>\S+ \S+) after the client's "
                         r"(?P<how>FIN|RST) here \(frame (?P<frame>\d+)\)", _front),
    "chain.back": Check(r"This is the upstream connection the proxy(?P<impl> \(.+?\))? opened for (?P<other>\S+): the "
                        r"client closed that one \((?P<how>FIN|RST), frame (?P<frame>\d+)\); the proxy closed this one "
                        r"(?P<delay>\S+ \S+) later \(frame (?P<proxy_frame>\d+)\)", _back),
    "chain.upstream_reset": Check(r"; the upstream server's write then got RST \(frame (?P<frame>\d+)\)", _upstream_reset),
    "chain.upstream_errno": Check(r" and its (?P<next>next )?(?P<call>\w+\(\)) failed with (?P<errno>E[A-Z]+) \(strace\)",
                                  _upstream_errno),
}
