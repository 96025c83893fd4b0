"""One connection's findings, read back from its row of the connection table: what the sentences are made of.

Built only for the connections that are explained in words (prose on
demand); the table itself never holds prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.diagnosis.evidence import Evidence, Label, items_of
from analysis.diagnosis.links import PROXIED_BY, UPSTREAM_OF
from analysis.diagnosis.signals import Signal
from analysis.diagnosis.verdicts import Verdict

#: How the words call each side of a connection in a proxy chain (analysis.diagnosis.links), by its link role.
SIDE_NAMES: dict[str | None, dict[str, str]] = {
    None: {"client": "client", "server": "server"},
    PROXIED_BY: {"client": "client", "server": "proxy"},
    UPSTREAM_OF: {"client": "proxy", "server": "upstream server"},
}


@dataclass(frozen=True)
class Link:
    """The other connection of a proxy chain: its role seen from this one's row, and its own row."""

    role: str  # this connection's link_role
    delay_ns: int
    row: dict  # the linked connection's row of the table
    items: dict[Label, Evidence]


@dataclass(frozen=True)
class Findings:
    flow: str
    closer: str  # the side whose FIN came first (or 'client')
    writer: str  # the other side (the one that may write after the close)
    signals: dict[str, bool]
    items: dict[Label, Evidence]
    numbers: dict[str, int | float | str | None] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()
    names: dict[str, str] = field(default_factory=lambda: dict(SIDE_NAMES[None]))  # side -> its name in words
    verdict: Verdict = Verdict.OPEN
    impl: str | None = None  # the server's implementation (meta.json server.impl)
    proxy: str | None = None  # the proxy's (meta.json proxy.impl), when the bundle had one
    link: Link | None = None
    row: dict = field(default_factory=dict)  # the connection-table row itself

    def name(self, side: str | None) -> str:
        """The words' name of a side (client/server, or proxy/upstream server in a proxy chain)."""
        return self.names.get(side or "", side or "one side")

    def other(self, side: str | None) -> str | None:
        return {"client": "server", "server": "client"}.get(side or "")


def findings_of(row: dict, sources: tuple[str, ...] = (), impl: str | None = None, proxy: str | None = None,
                linked: dict | None = None) -> Findings:
    """The findings of one connection-table row (as a dict: ``table.iloc[i].to_dict()`` or a record); ``linked``
    is the row of its linked connection (link_conn), when the table has it."""
    closer, writer = row["closer"], row["writer"]
    numbers = {
        "bytes_after_gone": int(row["bytes_after_close"]),
        "bytes_before_close": int(row[f"bytes_before_peer_fin_{writer}"]),
        "closer_bytes_before": int(row[f"bytes_before_peer_fin_{closer}"]),
        "unacked_at_rst": optional(row["unacked_at_rst_bytes"]),
        "lost_after_rst": int(row["lost_after_rst_bytes"]),
        "rst_reason": optional(row["rst_reason"]),
        "state_before_rst": optional(row["state_at_rst"]),
    }
    role = optional(row.get("link_role"))
    link = None
    if role is not None and linked is not None:
        link = Link(role=role, delay_ns=int(row["link_delay_ns"]), row=linked, items=items_of(linked))
    return Findings(flow=str(row["flow"]), closer=closer, writer=writer,
                    signals={str(s): bool(row[s]) for s in Signal}, items=items_of(row), numbers=numbers,
                    sources=frozenset(sources), names=dict(SIDE_NAMES[role if link else None]),
                    verdict=Verdict(row["verdict"]), impl=impl, proxy=proxy, link=link, row=row)


def optional(value):
    """None for a null cell (None, NA, NaN), else the value."""
    return None if value is None or pd.isna(value) else value


