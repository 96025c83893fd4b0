"""Per-connection diagnosis: verdicts for every connection as table columns, and words for the ones shown.

    evidence.py  the rows that prove a story, found for all connections at once (and read back from a row)
    signals.py   the booleans the verdict rules read, as whole columns
    verdicts.py  Verdict enum + RULES table (first match wins) + the order of the most telling
    links.py     proxy chains: a proxy's connection and its upstream connection, linked as whole columns
    table.py     the connection table: flows + verdict, roles, signals, evidence, links (analysis.schema.connections)
    findings.py  one connection's findings, from its row of the table
    explain/     sentences with times, deltas and bytes, one story per module, every clause from a template

The table is computed once for every connection (``Timeline.connections``);
a :class:`Diagnosis` (verdict, evidence, sentences) is built from one of its
rows, only for the connections someone looks at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.diagnosis.evidence import Evidence, Label
from analysis.diagnosis.explain import Clause, sentences, summary
from analysis.diagnosis.findings import Findings, findings_of, optional
from analysis.diagnosis.signals import Signal
from analysis.diagnosis.table import connection_table
from analysis.diagnosis.verdicts import MOST_TELLING_FIRST, RULES, Rule, Verdict


@dataclass(frozen=True)
class Diagnosis:
    """What happened to one connection: verdict, evidence (timeline rows), and sentences."""

    flow: str
    verdict: Verdict
    summary: str
    sentences: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    signals: tuple[str, ...]  # the names of the signals that held
    history: str
    conn_state: str
    role_guessed: bool
    #: the clauses (template id and text) of the summary, then of each sentence: what the words are made of
    clauses: tuple[tuple[Clause, ...], ...] = ()

    @property
    def frames(self) -> tuple[int, ...]:
        """The capture frames of the evidence, in order, each once."""
        return tuple(sorted({e.frame for e in self.evidence if e.frame is not None}))

    def text(self) -> str:
        guess = " (roles guessed: no SYN seen)" if self.role_guessed else ""
        lines = [f"{self.flow}  {self.verdict.value}  [{self.conn_state} {self.history}]{guess}", f"  {self.summary}"]
        lines += [f"  - {s}" for s in self.sentences]
        return "\n".join(lines)


def diagnosis_of(row: dict, sources: tuple[str, ...] = (), impl: str | None = None, proxy: str | None = None,
                 linked: dict | None = None) -> Diagnosis:
    """The Diagnosis of one row of the connection table (a dict), in words; ``linked`` is the row of its linked
    connection (a proxy chain's other end), when there is one."""
    findings = findings_of(row, sources, impl, proxy, linked)
    told = sentences(findings)
    headline = summary.tell(findings)
    return Diagnosis(
        flow=findings.flow,
        verdict=findings.verdict,
        summary="".join(c.text for c in headline.clauses),
        sentences=tuple(s.text for s in told),
        evidence=tuple(sorted(findings.items.values(), key=lambda e: (e.ts_ns, e.label))),
        signals=tuple(name for name, held in findings.signals.items() if held),
        history=str(row["history"]),
        conn_state=str(row["conn_state"]),
        role_guessed=bool(row["role_guessed"]),
        clauses=(headline.clauses, *(s.clauses for s in told)),
    )


def diagnose(timeline, flow: str | None = None) -> list[Diagnosis]:
    """Diagnoses of every connection of ``timeline`` (or of ``flow`` only), in the table's order."""
    table = timeline.connections
    if flow is not None:
        table = table[table["flow"] == flow]
    return explain_rows(table, timeline)


def explain_rows(table: pd.DataFrame, timeline) -> list[Diagnosis]:
    """Diagnoses of these rows of ``timeline.connections``: the sentences are made for them only."""
    meta = timeline.meta if isinstance(timeline.meta, dict) else {}
    impl, proxy = (part.get("impl") if isinstance(part := meta.get(key), dict) else None for key in ("server", "proxy"))
    rows = table.to_dict("records")
    wanted = {int(row["link_conn"]) for row in rows if optional(row["link_conn"]) is not None}
    everything = timeline.connections
    linked = {int(r["conn"]): r for r in everything[everything["conn"].isin(wanted)].to_dict("records")} if wanted else {}
    return [diagnosis_of(row, timeline.sources, impl, proxy,
                         linked.get(int(row["link_conn"])) if optional(row["link_conn"]) is not None else None)
            for row in rows]


def most_telling(table: pd.DataFrame, limit: int | None = None, include_clean: bool = False) -> pd.DataFrame:
    """The rows of a connection table that did not close cleanly, the most telling first (MOST_TELLING_FIRST,
    then capture order: first packet, then connection number); ``include_clean`` keeps the clean ones too,
    after the others (the clean verdicts come last in MOST_TELLING_FIRST)."""
    rank = {verdict.value: n for n, verdict in enumerate(MOST_TELLING_FIRST)}
    clean = [rule.verdict.value for rule in RULES if rule.clean]
    rows = table if include_clean else table[~table["verdict"].isin(clean)]
    keys = pd.DataFrame({"rank": rows["verdict"].astype(str).map(rank).to_numpy(), "ts": rows["first_ts_ns"].to_numpy(),
                         "conn": rows["conn"].to_numpy() if "conn" in rows.columns else np.arange(len(rows))})
    # sorted alone: not every column of a big table
    order = keys.sort_values(["rank", "ts", "conn"], kind="stable").index.to_numpy()
    return rows.iloc[order[:limit] if limit is not None else order]


__all__ = ["Clause", "Diagnosis", "Evidence", "Findings", "Label", "MOST_TELLING_FIRST", "RULES", "Rule", "Signal", "Verdict",
           "connection_table", "diagnose", "diagnosis_of", "explain_rows", "most_telling"]
