"""Tie a log line that names only the peer's address (no port) to the connection it fits: an inferred tie.

nginx writes ``client: 127.0.0.1`` but not the client's port, so the exact tie
(events._tie) cannot be made. The rule, in order:

1. **candidates**: the connections whose client address is the line's, that
   had begun by the end of the line's time (its time + its resolution, e.g.
   nginx's whole second, + 1 s) and had not ended more than
   :data:`MAX_SILENCE_NS` before it;
2. **fit**: the line's kind must fit how the connection ended (:data:`FITS`):
   a failed write or read (EPIPE, ECONNRESET) fits a connection with a RST;
   "client prematurely closed" (read_eof) and a 499 (abort) fit one the
   client closed (its FIN or its RST); a connection that fits comes first;
3. **nearest**: then the one whose packets lie nearest to the line's time
   (0 when the time falls within them), then the later one (a coarse time is
   the start of its second: the later connection is the one still open);
4. **one each**: lines of one group (nginx's connection number ``*N``) go to one
   connection; groups are tied in time order and a connection takes one group.

The detail of every such row ends with :data:`INFERRED_NOTE`; a line with no
candidate stays untied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.events._tie import normalise_endpoint
from analysis.schema import EventKind

INFERRED_NOTE = " [tie inferred: client address and time]"
SLACK_NS = 1_000_000_000
MAX_SILENCE_NS = 120_000_000_000
#: kind -> history letters (analysis.tcp.history; upper case: the client) one of which the connection must show
FITS = {
    EventKind.WRITE_ERROR.value: ("R", "r"),
    EventKind.READ_ERROR.value: ("R", "r"),
    EventKind.READ_EOF.value: ("F", "R"),
    EventKind.ABORT.value: ("F", "R"),
}


def _host(endpoint: str) -> str:
    return endpoint.rpartition(":")[0].strip("[]")


def by_address(ts_ns: np.ndarray, res_ns: pd.Series, address: pd.Series, group: pd.Series, kind: pd.Series,
               flows: pd.DataFrame | None) -> np.ndarray:
    """Flow ids ('' = none fits) for lines at ``ts_ns`` naming the peer ``address`` (module docstring)."""
    out = np.full(len(ts_ns), "", dtype=object)
    if flows is None or not len(flows):
        return out
    hosts = address.map(lambda a: _host(normalise_endpoint(f"{a}:0"))).to_numpy(object)
    res = pd.to_numeric(res_ns, errors="coerce").fillna(0).to_numpy(np.int64)
    groups = group.where(group.notna(), pd.Series([f"line{i}" for i in range(len(group))], index=group.index)).to_numpy()
    flow = flows["flow"].astype(str).to_numpy(object)
    flow_code = pd.factorize(flow)[0]
    # the hosts as numbers (the lines' and the connections' alike): one integer comparison per connection and line
    codes = pd.factorize(np.concatenate([hosts, flows["client"].astype(str).map(_host).to_numpy(object)]))[0]
    hosts, host = codes[:len(hosts)], codes[len(hosts):]
    first, last = flows["first_ts_ns"].to_numpy(np.int64), flows["last_ts_ns"].to_numpy(np.int64)
    history = flows["history"].astype(str).to_numpy(object) if "history" in flows else np.full(len(flows), "", object)
    taken = np.zeros(len(flows), dtype=bool)
    kinds = kind.to_numpy(object)
    order = np.argsort(ts_ns, kind="stable")
    chosen: dict[object, str] = {}
    for i in order:  # one pass per log line (numpy over the connections): nginx logs a few lines per failed one
        if groups[i] in chosen:
            out[i] = chosen[groups[i]]
            continue
        t, end = int(ts_ns[i]), int(ts_ns[i]) + int(res[i]) + SLACK_NS
        c = np.flatnonzero((host == hosts[i]) & (first <= end) & (last >= t - MAX_SILENCE_NS) & ~taken)
        if not len(c):
            continue
        letters = FITS.get(kinds[i], ())
        fits = np.array([any(x in h for x in letters) for h in history[c]], bool) if letters else np.ones(len(c), bool)
        distance = np.maximum(0, np.maximum(first[c] - t, t - last[c]))
        best = c[np.lexsort((-first[c], distance, ~fits))[0]]  # fitting, nearest, later; ties: the table's order
        chosen[groups[i]] = out[i] = flow[best]
        taken |= flow_code == flow_code[best]  # by its id, as the table names it
    return out
