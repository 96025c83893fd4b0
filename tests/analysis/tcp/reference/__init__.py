"""The whole-table connection pass and facts as they were before streaming (commit 80d1888): the oracle.

analysis.tcp now works on the packets a batch at a time, carrying per-connection state
(analysis.tcp.fold); these functions work on the whole table at once, exactly as the code
that the streamed pass replaced. Tests hold the streamed results to them, column for column.
Only the functions whose production versions changed are kept here; unchanged helpers are
imported from analysis.tcp.

    flows.py   assign_connections: rules 1-5 on the whole table
    facts.py   add_facts and histories: the close facts, history and conn_state
"""

from __future__ import annotations

import pandas as pd

from tests.analysis.tcp.reference.facts import add_facts
from tests.analysis.tcp.reference.flows import assign_connections


def build_flows(packets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotated packets, flows with facts) the whole-table way."""
    pk, flows = assign_connections(packets)
    return pk, add_facts(pk, flows)
