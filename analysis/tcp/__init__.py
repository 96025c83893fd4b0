"""TCP layer: packet table -> connections (flows.py), flag names (flags.py),
history/conn_state legends (history.py) and close facts (facts.py)."""

from __future__ import annotations

import pandas as pd

from analysis.tcp.facts import add_facts
from analysis.tcp.flows import assign_connections


def build_flows(packets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotated packets, flows with facts, history and conn_state) from a packet table."""
    pk, flows = assign_connections(packets)
    return pk, add_facts(pk, flows)


__all__ = ["build_flows"]
