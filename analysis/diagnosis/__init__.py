"""Per-connection diagnosis: a verdict from a rules table, the evidence rows, plain sentences.

    signals.py   evidence rows + boolean signals per connection
    verdicts.py  Verdict enum + RULES table (first match wins)
    explain.py   sentences with times, deltas and bytes
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from analysis.diagnosis.explain import sentences
from analysis.diagnosis.signals import Evidence, Findings, gather
from analysis.diagnosis.verdicts import RULES, Rule, Verdict, pick


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

    @property
    def frames(self) -> tuple[int, ...]:
        """The capture frames of the evidence, in order, each once."""
        return tuple(sorted({e.frame for e in self.evidence if e.frame is not None}))

    def evidence_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(e) for e in self.evidence])

    def text(self) -> str:
        guess = " (roles guessed: no SYN seen)" if self.role_guessed else ""
        lines = [f"{self.flow}  {self.verdict.value}  [{self.conn_state} {self.history}]{guess}", f"  {self.summary}"]
        lines += [f"  - {s}" for s in self.sentences]
        return "\n".join(lines)


def diagnose(timeline, flow: str | None = None) -> list[Diagnosis]:
    flows = timeline.flows
    if flow is not None:
        flows = flows[flows["flow"] == flow]
    impl = (timeline.meta.get("server") or {}).get("impl") if isinstance(timeline.meta, dict) else None
    events = timeline.events
    by_flow = {name: group for name, group in events.groupby(events["flow"].astype(str), sort=False, observed=True)}
    empty = events.iloc[0:0]
    out = []
    for _, row in flows.iterrows():  # one iteration per connection
        name = str(row["flow"])
        findings = gather(row, by_flow.get(name, empty), timeline.sources)
        rule = pick(findings.signals)
        names = {"client": "client", "server": "server", "closer": findings.closer, "writer": findings.writer}
        out.append(Diagnosis(
            flow=name,
            verdict=rule.verdict,
            summary=rule.summary.format(**names),
            sentences=sentences(findings, rule.verdict, row, impl),
            evidence=tuple(sorted(findings.items.values(), key=lambda e: (e.ts_ns, e.label))),
            signals=tuple(k for k, v in findings.signals.items() if v),
            history=str(row.get("history", "")),
            conn_state=str(row.get("conn_state", "")),
            role_guessed=bool(row.get("role_guessed", False)),
        ))
    return out


__all__ = ["Diagnosis", "Evidence", "Findings", "RULES", "Rule", "Verdict", "diagnose"]
