"""What the application saw: the error, an abort it logged (and whether the peer was really gone), nothing at all
(the error swallowed by its library), or nothing known (no log of it)."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.late import after_handler
from analysis.diagnosis.explain.words import (Phrases, Sentence, before, call_name, duration, library, sentence,
                                              time_rel)
from analysis.diagnosis.findings import Findings, optional

TEMPLATES: dict[str, str] = {
    "app.runtime": "The application reported \"{text}\" at {t}, but no syscall failed (strace): the error came from its "
                   "runtime, which refused to write on a connection it had already closed, not from the kernel",
    "app.reached": "The error reached the application: it reported \"{text}\" at {t}",
    "app.noticed": "The {side}'s application noticed that the {closer} had gone: it reported \"{text}\" at {t}",
    "app.half_closed": "The {side}'s application took the {closer}'s FIN for the {closer} going away: it reported "
                       "\"{text}\" at {t}, although the {closer} had only half-closed and kept reading",
    "app.skipped": ", and skipped its {body}-byte body",
    "app.gave_up": "The {side}'s application gave up after the {closer}'s FIN: it reported \"{text}\" at {t}",
    "app.never_wrote": "The error never reached the application: it recorded a successful write of {n} bytes at {t}{order}",
    "app.never_logged": "The error never reached the application: it logged no error",
    "app.library_wrote": "; {library} wrote {what} after the handler had returned (the application logged \"{said}\" "
                         "at {t}), got {errno}",
    "app.library_got": "; {library} got {errno}",
    "app.earlier_error": " (the {side}'s {call} had got {errno} {delay} earlier)",
    "app.swallowed": ", and swallowed {what} (only the {calls} saw {what_saw})",
    "app.read_only": "The application logged no error: no write failed, only the {side}'s {call}, with {errno} at {t}",
    "app.unknown": "Whether the error reached the application cannot be known without the application's log "
                   "(app.jsonl or --applog)",
}
phrase = Phrases(TEMPLATES)


def _abort(f: Findings) -> Sentence:
    ab = f.items[Label.APP_ABORT]
    names = {"side": f.name(ab.actor or f.writer), "closer": f.name(f.closer), "text": ab.detail, "t": time_rel(ab)}
    closer_reset = optional(f.row.get(f"rst_frame_{f.closer}")) is not None
    if closer_reset:
        return sentence(phrase("app.noticed", **names))
    if f.signals["half_close"]:
        body = phrase("app.skipped", body=ab.length) if ab.length else None
        return sentence(phrase("app.half_closed", **names), body)
    return sentence(phrase("app.gave_up", **names))


def _swallowed(f: Findings) -> Sentence:
    it = f.items
    err, failing, app_write = it[Label.SYSCALL_ERROR], it[Label.WRITE_ERROR], it.get(Label.APP_WRITE)
    if app_write is not None:
        order = ", before the failing syscall" if app_write.ts_ns <= failing.ts_ns else ""
        head = phrase("app.never_wrote", n=app_write.length, t=time_rel(app_write), order=order)
    else:
        head = phrase("app.never_logged")
    response = it.get(Label.APP_RESPONSE)
    if after_handler(f, failing):
        what = "the rest of the response" if f.row[f"bytes_{failing.actor or f.writer}"] > 0 else "the response"
        layer = phrase("app.library_wrote", library=library(f.impl), what=what, said=response.detail,
                       t=time_rel(response), errno=failing.errno)
    else:
        layer = phrase("app.library_got", library=library(f.impl), errno=failing.errno)
    earlier = None
    if failing is not err and before(err, failing):
        earlier = phrase("app.earlier_error", side=f.name(err.actor or f.writer), call=call_name(err), errno=err.errno,
                         delay=duration(failing.ts_ns - err.ts_ns))
    both = earlier is not None
    end = phrase("app.swallowed", what="both" if both else "it", calls="syscalls" if both else "syscall",
                 what_saw="them" if both else "the error")
    return sentence(head, layer, earlier, end)


def tell(f: Findings) -> Sentence | None:
    it, signals = f.items, f.signals
    err = it.get(Label.APP_ERROR)
    if err is not None and not signals["syscall_error"] and optional(f.row.get("syscall_seen_by")) in (err.actor, "both"):
        return sentence(phrase("app.runtime", text=err.detail, t=time_rel(err)))
    if err is not None:
        return sentence(phrase("app.reached", text=err.detail, t=time_rel(err)))
    if Label.APP_ABORT in it:
        return _abort(f)
    if signals["write_failed"] and signals["app_seen"]:
        return _swallowed(f)
    if signals["syscall_error"] and signals["app_seen"]:
        read = it[Label.SYSCALL_ERROR]
        return sentence(phrase("app.read_only", side=f.name(read.actor or f.writer), call=call_name(read),
                               errno=read.errno, t=time_rel(read)))
    if (signals["syscall_error"] or signals["rst_answers_late"]) and not signals["app_seen"]:
        return sentence(phrase("app.unknown"))
    return None
