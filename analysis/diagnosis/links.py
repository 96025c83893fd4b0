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
import pyarrow as pa
import pyarrow.compute as pc

from analysis.events._columns import string_arrow, strings_from_codes

#: how soon after the client's close the proxy must close its upstream connection (nginx: ~0.1-1 ms)
LINK_WINDOW_NS = 50_000_000
PROXIED_BY = "proxied-by"  #: this connection's request was forwarded by its server over ``link_conn``
UPSTREAM_OF = "upstream-of"  #: this connection is the proxy's upstream connection for ``link_conn``


def _codes(flows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: its client's address, its server's address (one numbering) and its server endpoint, as codes."""
    clients, servers = (string_arrow(flows[side].astype("string")) for side in ("client", "server"))
    hosts = pc.dictionary_encode(_without_port(pa.chunked_array([clients, servers]))).combine_chunks().indices
    hosts = hosts.to_numpy(zero_copy_only=False).astype(np.int64)
    server = pc.dictionary_encode(servers).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return hosts[: len(flows)], hosts[len(flows):], server


def _may_be_upstream(client_host: np.ndarray, server_host: np.ndarray, server: np.ndarray) -> np.ndarray:
    """Rows whose client's address serves another endpoint than their own server (rule 1): the only rows that
    can be a proxy's upstream connection. On a capture at one server, none: the rest is skipped."""
    distinct = np.unique(server_host * (server.max() + 1) + server)  # (address, endpoint) pairs served here
    endpoints_on = np.bincount(distinct // (server.max() + 1), minlength=max(client_host.max(), server_host.max()) + 1)
    return endpoints_on[client_host] > (client_host == server_host)


def _without_port(endpoints):
    """``ip:port`` -> ``ip:`` (``[ip6]:port`` -> ``[ip6]:``): the address, as a key (its colon kept)."""
    return pc.utf8_rtrim(endpoints, "0123456789")


def _client_close(flows: pd.DataFrame) -> pd.Series:
    """The client's first FIN or RST, whichever came first (null: it closed neither way)."""
    fin, rst = flows["fin_ts_ns_client"], flows["rst_ts_ns_client"]
    return fin.where(rst.isna() | (fin.notna() & (fin <= rst)), rst)


def link_chains(flows: pd.DataFrame) -> dict[str, object]:
    """``link_conn``, ``link_role`` and ``link_delay_ns`` (analysis.schema.connections) for every row."""
    n = len(flows)
    none = (np.zeros(0, np.int64),) * 3
    if n == 0:
        return _columns(flows, *none)
    client_host, server_host, server = _codes(flows)
    close = _client_close(flows).to_numpy(np.int64, na_value=-1)
    may_back = (close >= 0) & _may_be_upstream(client_host, server_host, server)
    if not may_back.any():
        return _columns(flows, *none)
    request = flows["first_payload_ts_ns_client"].to_numpy(np.int64, na_value=-1)
    may_front = (request >= 0) & (close >= 0)
    opened = flows["first_ts_ns"].to_numpy(np.int64)
    front = pd.DataFrame({"a": np.arange(n), "host": server_host, "a_close": close})[may_front]
    front = front.sort_values("a_close", kind="stable")
    back = pd.DataFrame({"b": np.arange(n), "host": client_host, "b_close": close})[may_back]
    back = back.sort_values("b_close", kind="stable")
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
    return _columns(flows, a[first], b[first], delay[first])


def _columns(flows: pd.DataFrame, a: np.ndarray, b: np.ndarray, delay: np.ndarray) -> dict[str, object]:
    """The link columns from the pairs (rows a proxied over rows b, with their delays)."""
    n = len(flows)
    conn = flows["conn"].to_numpy(np.int64)
    link = np.full(n, -1, dtype=np.int64)
    link[a], link[b] = conn[b], conn[a]
    role = np.full(n, -1, dtype=np.int64)
    role[a], role[b] = 0, 1
    delays = np.zeros(n, dtype=np.int64)
    delays[a], delays[b] = delay, delay
    return {
        "link_conn": pd.arrays.IntegerArray(link, link < 0),
        "link_role": strings_from_codes(role, (PROXIED_BY, UPSTREAM_OF)),
        "link_delay_ns": pd.arrays.IntegerArray(delays, link < 0),
    }
