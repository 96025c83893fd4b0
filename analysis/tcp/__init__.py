"""TCP layer: packet batches -> connections, with the rules in flows.py, applied a batch at a time by fold.py.

    flows.py     the rules (docstring), ids as text, orders
    identity.py  rule 1 across batches: endpoint pairs, VLAN split -> keys
    reuse.py     rule 2 across batches: a reused key starts a new connection
    roles.py     rules 3 and 4 across batches: the client, relative sequence numbers
    facts.py     the close facts, a batch at a time
    history.py   history letters and conn_state codes, with their legends
    state.py     what is carried per connection between batches
    finish.py    finished states -> flows-table rows
    fold.py      ConnectionFold: the pass over a stream of batches
    flags.py, sides.py, keys.py: flag names, side codes, growing id maps
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tcp.fold import ConnectionFold, Hints
from analysis.tcp.state import States


def build_flows(packets: pd.DataFrame, hints: Hints | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(annotated packets, flows with facts, history and conn_state) from one packet table, as one batch.

    A single batch needs no hints: nothing comes after it.
    """
    fold = ConnectionFold(hints)
    step = fold.add(packets)
    states = States.joined([step.finished, fold.close()])
    return step.packets, fold.flows(states.take(np.argsort(states["conn"])))


__all__ = ["ConnectionFold", "Hints", "build_flows"]
