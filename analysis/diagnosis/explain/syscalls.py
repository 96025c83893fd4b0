"""The calls that failed (strace): which, with what errno, when, and which layer made them."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.late import by_library
from analysis.diagnosis.explain.words import Phrases, Sentence, call_name, call_role, later_or_earlier, sentence, time_rel
from analysis.diagnosis.findings import Findings

TEMPLATES: dict[str, str] = {
    "syscall.failed": "The {side}'s {next}{call} failed with {errno}{when} (at {t}, strace)",
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
    clauses = [phrase("syscall.failed", side=f.name(err.actor or f.writer), next=nxt, call=call_name(err),
                      errno=err.errno, when=when, t=time_rel(err)),
               phrase("syscall.role", role=role) if role else None]
    write = it.get(Label.WRITE_ERROR)
    if write is not None and (write.ts_ns, write.kind) != (err.ts_ns, err.kind):
        clauses.append(phrase("syscall.then", call=call_name(write), t=time_rel(write), errno=write.errno))
    clauses.append(by_library(f, write) if write is not None else None)
    return sentence(*clauses)
