"""Plain sentences from a connection's findings: times, deltas, bytes, and what cannot be known.

Each ``_sentence_*`` function looks at the findings and returns one sentence
or None; :data:`SENTENCES` lists them in the order a reader follows the
story (close, late data, RST, failing syscall, why that errno, bytes lost,
did the application see it, what is missing).
"""

from __future__ import annotations

import re

from analysis.diagnosis.evidence import Evidence
from analysis.diagnosis.findings import Findings
from analysis.diagnosis.verdicts import Verdict

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

#: Server implementation (meta.json server.impl) -> who buffers and flushes its writes.
WRITERS: dict[str, str] = {"go": "Go's net/http", "python": "Python's http.server", "node": "Node's http module"}


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


def _frame(ev: Evidence) -> str:
    return f"frame {ev.frame}" if ev.frame is not None else ev.source


def _syscall_name(ev: Evidence) -> str:
    match = re.match(r"\s*(\w+)\(", ev.detail or "")
    return f"{match.group(1)}()" if match else ev.kind


def _possessive(side: str) -> str:
    return f"{side}'s"


def _sentence_close(f: Findings, ctx: dict) -> str | None:
    it = f.items
    pending = f.numbers["closer_bytes_before"] > 0 and f.numbers["bytes_before_close"] == 0
    pending_text = f" while the request was pending (the {f.writer} had sent no data yet)" if pending else ""
    if f.signals["refused"] and "first_rst" in it:
        return f"The client's SYN was answered by RST at {time_rel(it['first_rst'])} ({_frame(it['first_rst'])}): nothing accepted the connection."
    if (f.signals["client_abort"] or f.signals["server_abort"]) and "first_rst" in it:
        rst = it["first_rst"]
        side = rst.actor or "one side"
        pending = side == "client" and f.numbers["bytes_before_close"] == 0 and ctx["flow_row"].get("bytes_server", 1) == 0
        reason = f.numbers.get("rst_reason")
        why = f"; reason {reason}, from the kernel: {RST_REASONS.get(reason, reason)}" if reason else ""
        return (f"The {side} aborted with RST at {time_rel(rst)} ({_frame(rst)}{why}) without a FIN"
                + (" while the request was pending (the server had sent no data yet)" if pending else "") + ".")
    if "fin" in it:
        return f"The {f.closer} closed with FIN at {time_rel(it['fin'])} ({_frame(it['fin'])}){pending_text}."
    return None


def _sentence_late_data(f: Findings, ctx: dict) -> str | None:
    it = f.items
    if "late_data" not in it:
        return None
    data, fin = it["late_data"], it["fin"]
    text = (f"The {f.writer} wrote {data.length} bytes at {time_rel(data)} ({_frame(data)}), "
            f"{duration(data.ts_ns - fin.ts_ns)} after that FIN")
    if "write_after_fin" in it and it["write_after_fin"].length and "rst_answer" in it:
        call = it["write_after_fin"]
        text += f"; its {_syscall_name(call)} returned {call.length} (strace), so the {f.writer} could not tell the {f.closer} was gone"
    return text + "."


def _sentence_rst(f: Findings, ctx: dict) -> str | None:
    it = f.items
    if "rst_answer" not in it:
        return None
    rst, data = it["rst_answer"], it["late_data"]
    reason = f.numbers.get("rst_reason")
    if reason:
        why = RST_REASONS.get(reason)
        tail = f"; reason {reason}, from the kernel" + (f": {why}" if why else "")
    elif "kernel" in f.sources:
        tail = "; the kernel trace has no tcp_send_reset for it"
    else:
        tail = ""
    return f"The {f.closer}'s kernel answered with RST after {duration(rst.ts_ns - data.ts_ns)} ({_frame(rst)}{tail})."


def _sentence_syscall(f: Findings, ctx: dict) -> str | None:
    it = f.items
    if "syscall_error" not in it:
        return None
    err = it["syscall_error"]
    anchor = it.get("first_rst") or it.get("fin")
    when = f"{duration(err.ts_ns - anchor.ts_ns)} {'later' if err.ts_ns >= anchor.ts_ns else 'earlier'}" if anchor else time_rel(err)
    side = err.actor or f.writer
    nxt = "next " if "write_after_fin" in it and err.kind == "write_error" else ""
    text = f"The {_possessive(side)} {nxt}{_syscall_name(err)} failed with {err.errno} {when} (at {time_rel(err)}, strace)"
    write = it.get("write_error")
    if write is not None and (write.ts_ns, write.kind) != (err.ts_ns, err.kind):
        text += f"; its {_syscall_name(write)} at {time_rel(write)} then failed with {write.errno}"
    return text + "."


def _sentence_why(f: Findings, ctx: dict) -> str | None:
    it = f.items
    if "first_rst" not in it:
        return None
    rst = it["first_rst"]
    receiver = {"client": "server", "server": "client"}.get(rst.actor or "", f.writer)
    state = f.numbers.get("state_before_rst")
    fin = it.get("fin")
    got_fin_first = fin is not None and fin.actor == rst.actor and fin.ts_ns <= rst.ts_ns
    source = "kernel: " + it["state_at_rst"].detail if "state_at_rst" in it else None
    if "sk_error" in it:
        report = it["sk_error"]
        number = re.search(r"error=(-?\d+)", report.detail or "")
        source = (source + ", " if source else "kernel: ") + f"error report {number.group(1) + ' = ' if number else ''}{report.errno}"
    if state is None:
        state = "CLOSE_WAIT" if got_fin_first else "ESTABLISHED"
        source = "inferred from the packets: " + (f"the {receiver} had received the {rst.actor}'s FIN" if got_fin_first
                                                  else f"no FIN from the {rst.actor} before its RST")
    errnos_seen = {e.errno for e in (it.get("syscall_error"), it.get("write_error")) if e is not None}
    if state == "CLOSE_WAIT":
        if not errnos_seen and "strace" in f.sources:
            return (f"No call of the {receiver} failed after the RST (strace). "
                    f"The RST arrived while its socket was in CLOSE_WAIT ({source}), so a later write would have failed "
                    "with EPIPE, not ECONNRESET (a RST in ESTABLISHED gives ECONNRESET).")
        head = "Why EPIPE and not ECONNRESET: " if "EPIPE" in errnos_seen or not errnos_seen else ""
        return (f"{head}the RST arrived while the {_possessive(receiver)} socket was in CLOSE_WAIT ({source}); "
                "Linux reports a reset in CLOSE_WAIT as EPIPE, while a RST in ESTABLISHED gives ECONNRESET.")
    if state == "ESTABLISHED":
        tail = (" Only the first call to look sees ECONNRESET; after that the socket is closed for sending and "
                "every later write fails with EPIPE." if "EPIPE" in errnos_seen and "ECONNRESET" in errnos_seen else "")
        return (f"The RST arrived while the {_possessive(receiver)} socket was ESTABLISHED ({source}), "
                f"so the kernel reported ECONNRESET to the {receiver}.{tail}")
    return f"The RST arrived while the {_possessive(receiver)} socket was in {state} ({source})."


def _sentence_bytes(f: Findings, ctx: dict) -> str | None:
    if "late_data" not in f.items:
        return None
    sent = f.numbers["bytes_after_gone"]
    unacked = f.numbers.get("unacked_at_rst")
    text = f"The {f.writer} sent {sent} bytes after the {_possessive(f.closer)} FIN"
    if "rst_answer" in f.items and unacked is not None:
        text += f"; {int(unacked)} of them were never acknowledged before the RST: lost"
    elif "half_close" in f.items:
        text += "; the {0} acknowledged them".format(f.closer)
    return text + "."


def _sentence_app(f: Findings, ctx: dict) -> str | None:
    it = f.items
    impl = ctx.get("impl")
    who = WRITERS.get(impl or "", "the server's library")
    if "app_error" in it and not f.signals["syscall_error"] and "strace" in f.sources:
        err = it["app_error"]
        return (f"The application reported \"{err.detail}\" at {time_rel(err)}, but no syscall failed (strace): "
                "the error came from its runtime, which refused to write on a connection it had already closed, "
                "not from the kernel.")
    if "app_error" in it:
        err = it["app_error"]
        return f"The error reached the application: it reported \"{err.detail}\" at {time_rel(err)}."
    if "app_abort" in it:
        ab = it["app_abort"]
        return (f"The {ab.actor or f.writer}'s application noticed that the {f.closer} had gone: it reported "
                f"\"{ab.detail}\" at {time_rel(ab)}.")
    if f.signals["syscall_error"] and f.signals["app_seen"]:
        write = it.get("app_write")
        err = it["syscall_error"]
        done = (f"it recorded a successful write of {write.length} bytes at {time_rel(write)}"
                + (", before the failing syscall" if write.ts_ns <= err.ts_ns else "")) if write else "it logged no error"
        return (f"The error never reached the application: {done}; {who} flushed the rest of its buffer after the "
                f"handler had returned, got {err.errno}, and swallowed it (only the syscall saw the error).")
    if (f.signals["syscall_error"] or f.signals["rst_answers_late"]) and "app" not in f.sources and "applog" not in f.sources:
        return "Whether the error reached the application cannot be known without the application's log (app.jsonl or --applog)."
    return None


def _sentence_half_close(f: Findings, ctx: dict) -> str | None:
    it = f.items
    if ctx["verdict"] is not Verdict.HALF_CLOSE_CLEAN or "half_close" not in it:
        return None
    text = (f"The {f.closer} only half-closed: it acknowledged the {f.writer}'s {f.numbers['bytes_after_gone']} bytes "
            f"sent after its FIN ({_frame(it['half_close'])} at {time_rel(it['half_close'])})")
    if "writer_fin" in it:
        text += f", and the {f.writer} closed too at {time_rel(it['writer_fin'])} ({_frame(it['writer_fin'])})"
    return text + "; no RST, no error."


def _sentence_other_close(f: Findings, ctx: dict) -> str | None:
    row = ctx["flow_row"]
    v = ctx["verdict"]
    if v is Verdict.NORMAL_CLOSE:
        return f"Both sides closed with FIN (the {f.closer} first); no RST."
    if v is Verdict.OPEN:
        return f"No FIN and no RST: the connection was still open when the capture ended ({int(row['packets'])} packets)."
    if v is Verdict.ONE_SIDED_CLOSE:
        return f"Only the {f.closer} sent FIN; the capture ended before the other side closed."
    return None


def _sentence_unknowns(f: Findings, ctx: dict) -> str | None:
    missing = []
    if "strace" not in f.sources and (f.signals["any_rst"] or f.signals["late_data"]):
        missing.append("without strace, the errno the application's calls got cannot be known (on Linux a write after "
                       "this RST fails with EPIPE when the socket had received FIN, CLOSE_WAIT, and ECONNRESET otherwise)")
    if "kernel" not in f.sources and f.signals["any_rst"]:
        missing.append("without the kernel trace, the RST's reason and the socket states are inferred from the packets")
    if not missing:
        return None
    text = "; ".join(missing)
    return text[0].upper() + text[1:] + "."


SENTENCES = (
    _sentence_close, _sentence_late_data, _sentence_rst, _sentence_syscall, _sentence_why, _sentence_bytes,
    _sentence_app, _sentence_half_close, _sentence_other_close, _sentence_unknowns,
)


def sentences(f: Findings, verdict: Verdict, flow_row, impl: str | None) -> tuple[str, ...]:
    ctx = {"verdict": verdict, "flow_row": flow_row, "impl": impl}
    out = []
    for build in SENTENCES:
        text = build(f, ctx)
        if text:
            out.append(text)
    return tuple(out)
