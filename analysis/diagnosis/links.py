"""Proxy chains in one capture: client -> proxy -> upstream, the two connections linked, from packets and timing.

A reverse proxy (nginx, Go's httputil.ReverseProxy, ...) that gets a
request opens a connection of its own to the upstream server, from its own
address; when the client goes away first, the proxy closes that upstream
connection at once (nginx: "client prematurely closed connection, so
upstream connection is closed too"). Rules, over whole columns:

1. **Addresses**: the upstream connection's client address is the proxy
   connection's server address (the proxy's host), and the two server
   endpoints differ.
2. **Opened after the request**: the upstream connection's first packet
   comes after the client's first payload on the proxy connection (its
   request) and before the client closed it.
3. **Closed right after the client's close**: the proxy's first FIN or RST
   on the upstream connection comes at most :data:`LINK_WINDOW_NS` after the
   client's first FIN or RST on the proxy connection.

Each upstream connection is matched to the proxy connection whose client
closed last before it did (pandas.merge_asof by the proxy's address); a
proxy connection keeps the upstream connection that closed soonest after
it. On a busy proxy, another client closing in between takes the match
(and the rules then refuse it): such chains stay unlinked rather than
linked wrong. Connections the proxy reuses for several requests (upstream keepalive)
and proxies that only close the upstream side when it answers are not
linked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: how soon after the client's close the proxy must close its upstream connection (nginx: ~0.1-1 ms)
LINK_WINDOW_NS = 50_000_000
PROXIED_BY = "proxied-by"  #: this connection's request was forwarded by its server over ``link_conn``
UPSTREAM_OF = "upstream-of"  #: this connection is the proxy's upstream connection for ``link_conn``


def _host(endpoints: pd.Series) -> pd.Series:
    """``ip:port`` / ``[ip6]:port`` -> the address (brackets dropped)."""
    return endpoints.astype("string").str.rsplit(":", n=1).str[0].str.strip("[]")


def _client_close(flows: pd.DataFrame) -> pd.Series:
    """The client's first FIN or RST, whichever came first (null: it closed neither way)."""
    fin, rst = flows["fin_ts_ns_client"], flows["rst_ts_ns_client"]
    return fin.where(rst.isna() | (fin.notna() & (fin <= rst)), rst)


def link_chains(flows: pd.DataFrame) -> dict[str, object]:
    """``link_conn``, ``link_role`` and ``link_delay_ns`` (analysis.schema.connections) for every row."""
    n = len(flows)
    close = _client_close(flows).to_numpy(np.int64, na_value=-1)
    request = flows["first_payload_ts_ns_client"].to_numpy(np.int64, na_value=-1)
    opened = flows["first_ts_ns"].to_numpy(np.int64)
    server = flows["server"].astype("string").to_numpy(object)
    front = pd.DataFrame({"a": np.arange(n), "host": _host(flows["server"]), "a_close": close})
    front = front[(request >= 0) & (close >= 0)].sort_values("a_close", kind="stable")
    back = pd.DataFrame({"b": np.arange(n), "host": _host(flows["client"]), "b_close": close})
    back = back[close >= 0].sort_values("b_close", kind="stable")
    # not allow_exact_matches: a connection's own close is not the close it follows
    matched = pd.merge_asof(back, front, left_on="b_close", right_on="a_close", by="host", direction="backward",
                            tolerance=LINK_WINDOW_NS, allow_exact_matches=False).dropna(subset=["a"])
    a, b = matched["a"].to_numpy(np.int64), matched["b"].to_numpy(np.int64)  # rows: the rest is looked up exactly
    keep = (a != b) & (server[a] != server[b]) & (opened[b] > request[a]) & (opened[b] <= close[a])
    a, b = a[keep], b[keep]
    delay = close[b] - close[a]
    order = np.lexsort((np.arange(len(a)), delay))  # soonest first; one upstream connection per proxied one
    a, b, delay = a[order], b[order], delay[order]
    _, first = np.unique(a, return_index=True)
    a, b, delay = a[first], b[first], delay[first]
    conn = flows["conn"].to_numpy(np.int64)
    link = np.full(n, -1, dtype=np.int64)
    link[a], link[b] = conn[b], conn[a]
    role = np.full(n, None, dtype=object)
    role[a], role[b] = PROXIED_BY, UPSTREAM_OF
    delays = np.zeros(n, dtype=np.int64)
    delays[a], delays[b] = delay, delay
    return {
        "link_conn": pd.arrays.IntegerArray(link, link < 0),
        "link_role": pd.array(role, dtype="string"),
        "link_delay_ns": pd.arrays.IntegerArray(delays, link < 0),
    }
