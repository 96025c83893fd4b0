"""The one-line summary: the verdict's rule (analysis.diagnosis.verdicts), and for some verdicts the calls behind it."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import Clause, Phrases, Sentence, call_name
from analysis.diagnosis.findings import Findings
from analysis.diagnosis.verdicts import RULES, Verdict
from analysis.schema import Source

TEMPLATES: dict[str, str] = {
    **{f"summary.{rule.verdict.value}": rule.summary for rule in RULES},
    "summary.calls": ": {call} with {errno}{then}",
}
phrase = Phrases(TEMPLATES)
#: verdicts whose summary goes on to say which call got which errno (the app may have logged another one)
NAMES_THE_CALLS = frozenset({Verdict.RST_BY_CLIENT_ECONNRESET})


def tell(f: Findings) -> Sentence:
    names = {"client": f.name("client"), "server": f.name("server"), "closer": f.name(f.closer),
             "writer": f.name(f.writer)}
    clauses: list[Clause] = [phrase(f"summary.{f.verdict.value}", **names)]
    err, write = f.items.get(Label.SYSCALL_ERROR), f.items.get(Label.WRITE_ERROR)
    if f.verdict in NAMES_THE_CALLS and err is not None and err.source == Source.SYSCALL.value:
        then = f", then {call_name(write)} with {write.errno}" if write is not None and write.ts_ns > err.ts_ns else ""
        clauses.append(phrase("summary.calls", call=call_name(err), errno=err.errno, then=then))
    return Sentence(tuple(clauses))
