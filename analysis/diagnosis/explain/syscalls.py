"""The calls that failed (strace, else the kernel's sock_send_length): which, with what errno, when, and which layer
made them."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.late import by_library
from analysis.diagnosis.explain.words import Phrases, Sentence, call_name, call_role, later_or_earlier, sentence, time_rel
from analysis.diagnosis.findings import Findings
from analysis.schema import Source

TEMPLATES: dict[str, str] = {
    "syscall.failed": "The {side}'s {next}{call} failed with {errno}{when} (at {t}, strace)",
    "syscall.send_failed": "The kernel's sock_send_length reported {errno} for the {side}'s {next}send{when} (at {t}, "
                           "tracefs)",
    "syscall.role": ": {role}",
    "syscall.then": "; its {call} at {t} then failed with {errno}",
}
phrase = Phrases(TEMPLATES)


def tell(f: Findings) -> Sentence | None:
    it = f.items
    err = it.get(Label.SYSCALL_ERROR)
    if err is None:
        return None
    anchor = it.get(Label.FIRST_RST) or it.get(Label.FIN)
    when = f" {later_or_earlier(err.ts_ns - anchor.ts_ns)}" if anchor else ""
    nxt = "next " if Label.WRITE_AFTER_FIN in it and err.kind == "write_error" else ""
    role = call_role(err, f.impl)
    side = f.name(err.actor or f.writer)
    if err.source == Source.KERNEL.value:  # the kernel's send result, not a traced call
        head = phrase("syscall.send_failed", side=side, next=nxt, errno=err.errno, when=when, t=time_rel(err))
    else:
        head = phrase("syscall.failed", side=side, next=nxt, call=call_name(err), errno=err.errno, when=when,
                      t=time_rel(err))
    clauses = [head, phrase("syscall.role", role=role) if role else None]
    write = it.get(Label.WRITE_ERROR)
    if write is not None and (write.ts_ns, write.kind) != (err.ts_ns, err.kind):
        clauses.append(phrase("syscall.then", call=call_name(write), t=time_rel(write), errno=write.errno))
    clauses.append(by_library(f, write) if write is not None else None)
    return sentence(*clauses)
