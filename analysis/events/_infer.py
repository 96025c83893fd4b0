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
    hosts = address.map(lambda a: _host(normalise_endpoint(f"{a}:0"))).to_numpy()
    res = pd.to_numeric(res_ns, errors="coerce").fillna(0).to_numpy(np.int64)
    groups = group.where(group.notna(), pd.Series([f"line{i}" for i in range(len(group))], index=group.index)).to_numpy()
    table = pd.DataFrame({"flow": flows["flow"].astype(str).to_numpy(), "host": flows["client"].astype(str).map(_host),
                          "first": flows["first_ts_ns"].to_numpy(np.int64), "last": flows["last_ts_ns"].to_numpy(np.int64),
                          "history": flows["history"].astype(str) if "history" in flows else ""})
    taken: set[str] = set()
    order = np.argsort(ts_ns, kind="stable")
    chosen: dict[object, str] = {}
    for i in order:  # one pass per log line: nginx logs a few lines per failed connection
        if groups[i] in chosen:
            out[i] = chosen[groups[i]]
            continue
        t, end = int(ts_ns[i]), int(ts_ns[i]) + int(res[i]) + SLACK_NS
        c = table[(table["host"] == hosts[i]) & (table["first"] <= end) & (table["last"] >= t - MAX_SILENCE_NS)
                  & ~table["flow"].isin(taken)]
        if c.empty:
            continue
        letters = FITS.get(kind.iloc[i], ())
        fits = c["history"].map(lambda h: any(x in h for x in letters)) if letters else pd.Series(True, index=c.index)
        distance = np.maximum(0, np.maximum(c["first"] - t, t - c["last"]))
        best = c.assign(fits=fits, distance=distance).sort_values(["fits", "distance", "first"],
                                                                  ascending=[False, True, False]).iloc[0]
        chosen[groups[i]] = out[i] = best["flow"]
        taken.add(best["flow"])
    return out
