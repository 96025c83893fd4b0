"""One connection's findings, read back from its row of the connection table: what the sentences are made of.

Built only for the connections that are explained in words (prose on
demand); the table itself never holds prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.diagnosis.evidence import Evidence, Label, items_of
from analysis.diagnosis.signals import Signal


@dataclass(frozen=True)
class Findings:
    flow: str
    closer: str  # the side whose FIN came first (or 'client')
    writer: str  # the other side (the one that may write after the close)
    signals: dict[str, bool]
    items: dict[Label, Evidence]
    numbers: dict[str, int | float | str | None] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()


def findings_of(row: dict, sources: tuple[str, ...] = ()) -> Findings:
    """The findings of one connection-table row (as a dict: ``table.iloc[i].to_dict()`` or a record)."""
    closer, writer = row["closer"], row["writer"]
    numbers = {
        "bytes_after_gone": int(row["bytes_after_close"]),
        "bytes_before_close": int(row[f"bytes_before_peer_fin_{writer}"]),
        "closer_bytes_before": int(row[f"bytes_before_peer_fin_{closer}"]),
        "unacked_at_rst": _optional(row["unacked_at_rst_bytes"]),
        "lost_after_rst": int(row["lost_after_rst_bytes"]),
        "rst_reason": _optional(row["rst_reason"]),
        "state_before_rst": _optional(row["state_at_rst"]),
    }
    return Findings(flow=str(row["flow"]), closer=closer, writer=writer,
                    signals={str(s): bool(row[s]) for s in Signal}, items=items_of(row), numbers=numbers,
                    sources=frozenset(sources))


def _optional(value):
    return None if value is None or pd.isna(value) else value
