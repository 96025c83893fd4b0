"""Tie non-packet events to connections by their endpoints (shared by the parsers).

An event that names its socket's local and/or remote endpoint (strace -yy,
tracefs, Go error text, app.jsonl) is matched to the connection whose client
or server endpoint it names. Only keys that contain the *client* endpoint are
used, because a server endpoint alone (127.0.0.1:3000) is shared by every
connection. When several connections share the key (a reused 4-tuple), the
event goes to the latest one that started at or before it, else the next one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tcp.flows import endpoint_text


def normalise_endpoint(text: str | None) -> str:
    """'127.0.0.1:80', '[::1]:80', '::ffff:1.2.3.4:80' style text -> canonical `ip:port` ('' if unknown)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = str(text).strip()
    if not text or ":" not in text:
        return ""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return ""
    return endpoint_text(host.strip("[]"), int(port))


def normalise_endpoints(values: pd.Series) -> pd.Series:
    """Vectorised over unique values (few distinct endpoints, many rows)."""
    values = values.astype("object")
    uniq = pd.unique(values)
    mapping = {u: normalise_endpoint(u) for u in uniq}
    return values.map(mapping).fillna("").astype(object)


def _keys(flows: pd.DataFrame) -> pd.DataFrame:
    c, s = flows["client"].astype(object), flows["server"].astype(object)
    base = {"flow": flows["flow"].astype(object), "start": flows["first_ts_ns"].astype(np.int64)}
    tables = [
        pd.DataFrame({**base, "key": c + "|" + s, "actor": "client"}),
        pd.DataFrame({**base, "key": s + "|" + c, "actor": "server"}),
        pd.DataFrame({**base, "key": "|" + c, "actor": "server"}),  # only the remote is known: it is the client
        pd.DataFrame({**base, "key": c + "|", "actor": "client"}),  # only the local is known: it is the client
    ]
    return pd.concat(tables, ignore_index=True)


def tie(ts_ns: np.ndarray, local: pd.Series, remote: pd.Series, flows: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(flow ids, actors) for events at ``ts_ns`` with these endpoint texts ('' = unknown -> flow '', actor None)."""
    n = len(ts_ns)
    flow_out = np.full(n, "", dtype=object)
    actor_out = np.full(n, None, dtype=object)
    if flows is None or len(flows) == 0 or n == 0:
        return flow_out, actor_out
    local_n = normalise_endpoints(pd.Series(local, dtype=object).reset_index(drop=True))
    remote_n = normalise_endpoints(pd.Series(remote, dtype=object).reset_index(drop=True))
    has_any = ((local_n != "") | (remote_n != "")).to_numpy()
    events = pd.DataFrame({"key": local_n + "|" + remote_n, "ts": np.asarray(ts_ns, np.int64), "row": np.arange(n)})[has_any]
    if events.empty:
        return flow_out, actor_out
    table = _keys(flows).sort_values("start", kind="stable")
    events = events.sort_values("ts", kind="stable")
    back = pd.merge_asof(events, table, left_on="ts", right_on="start", by="key", direction="backward")
    fwd = pd.merge_asof(events, table, left_on="ts", right_on="start", by="key", direction="forward")
    flow = back["flow"].where(back["flow"].notna(), fwd["flow"])
    actor = back["actor"].where(back["flow"].notna(), fwd["actor"])
    found = flow.notna().to_numpy()
    rows = events["row"].to_numpy()[found]
    flow_out[rows] = flow.to_numpy()[found]
    actor_out[rows] = actor.to_numpy()[found]
    return flow_out, actor_out
