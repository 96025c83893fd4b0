"""Template id -> checker, and the check of a whole diagnosis against its bundle's raw files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.sentences import checks_app, checks_calls, checks_close, checks_summary, checks_wire
from tests.sentences.checking import Check, Ctx, Unverifiable
from tests.sentences.conn import Conn
from tests.sentences.raw import Bundle

CHECKERS: dict[str, Check] = {}
for _module in (checks_summary, checks_close, checks_wire, checks_calls, checks_app):
    _twice = set(CHECKERS) & set(_module.CHECKS)
    assert not _twice, f"checkers defined twice: {_twice}"
    CHECKERS.update(_module.CHECKS)


@dataclass
class Tally:
    """What a check run covered and found."""

    connections: int = 0
    sentences: int = 0
    clauses: int = 0
    by_id: dict[str, int] = field(default_factory=dict)
    false: list[str] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        self.connections += other.connections
        self.sentences += other.sentences
        self.clauses += other.clauses
        for key, n in other.by_id.items():
            self.by_id[key] = self.by_id.get(key, 0) + n
        self.false += other.false


def check_clause(clause_id: str, text: str, ctx: Ctx) -> list[str]:
    checker = CHECKERS.get(clause_id)
    if checker is None:
        return [f"no checker for {clause_id!r}"]
    match = re.fullmatch(checker.pattern, text)
    if match is None:
        return [f"{clause_id}: does not read as its checker expects: {text!r}"]
    groups = match.groupdict()
    try:
        found = checker.verify(groups, ctx)
    except Unverifiable as exc:
        found = [str(exc)]
    ctx.previous.append((clause_id, groups))
    return [f"{clause_id}: {problem} in {text!r}" for problem in found]


def check_diagnosis(diagnosis, bundle: Bundle) -> Tally:
    """Every clause of one Diagnosis (analysis.diagnosis) against the raw files; the sentence texts against their
    clauses (nothing said outside a checked clause)."""
    tally = Tally(connections=1)
    conn = Conn.of(bundle, diagnosis.flow)
    if not conn.packets:
        tally.false.append(f"{diagnosis.flow}: tshark finds no packet of this connection")
        return tally
    said = (diagnosis.summary, *diagnosis.sentences)
    for n, (clauses, text) in enumerate(zip(diagnosis.clauses, said)):
        joined = "".join(c.text for c in clauses) + ("" if n == 0 else ".")
        if joined != text:
            tally.false.append(f"{diagnosis.flow}: the words {text!r} are not their clauses {joined!r}")
        ctx = Ctx(bundle, conn, diagnosis.verdict.value)
        for clause in clauses:
            tally.clauses += 1
            tally.by_id[clause.id] = tally.by_id.get(clause.id, 0) + 1
            tally.false += [f"{diagnosis.flow}: {p}" for p in check_clause(clause.id, clause.text, ctx)]
    tally.sentences += len(said)
    if len(diagnosis.clauses) != len(said):
        tally.false.append(f"{diagnosis.flow}: {len(said)} sentences but {len(diagnosis.clauses)} clause lists")
    return tally


def check_bundle(path, diagnoses) -> Tally:
    """Every diagnosis of a bundle (or a bare capture)."""
    bundle, tally = Bundle(path), Tally()
    for diagnosis in diagnoses:
        tally.add(check_diagnosis(diagnosis, bundle))
    return tally
