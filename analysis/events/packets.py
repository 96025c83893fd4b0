"""Packet table + flows -> timeline rows (source ``packet``), one per TCP segment.

Takes the packets annotated by analysis.tcp.build_flows (``conn``,
``from_client``, relative ``seq``/``ack``, ``kind``). ``detail`` is left empty
for packets (keeps a million-row timeline lean); ``frame`` links back to the
capture. The columns are built in their schema dtypes directly (see
_columns.py), so this stays vectorised at millions of rows; the result is
checked with schema.validate.

Rows come out in timeline order (by ``ts_ns``, frame order on ties), the
order timeline.merge gives them: capture timestamps can step back a little
(several CPUs feed one capture), and building each column once in its final
order saves the merge a second copy of a million-row timeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.events._columns import null_strings, nullable_int, strings_from_codes
from analysis.schema import Actor, PacketKind, Source, conform, validate
from analysis.tcp.flags import TCPDUMP_NAMES

_KINDS = [k.value for k in PacketKind]


def _time_order(ts: np.ndarray) -> np.ndarray | None:
    """Stable order by time; None when the rows are in time order already (the usual case)."""
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        return None
    return np.argsort(ts, kind="stable")


def parse(packets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    if len(packets) == 0:
        return conform(pd.DataFrame({"ts_ns": [], "t_rel": [], "source": [], "kind": []}))
    n = len(packets)
    ts = packets["ts_ns"].to_numpy(np.int64)
    order = _time_order(ts)

    def column(name: str) -> np.ndarray:  # always a new array: the timeline must not share buffers with the packets
        values = packets[name].to_numpy()
        return values.copy() if order is None else values[order]

    if order is not None:
        ts = ts[order]
    conn = column("conn").astype(np.int64, copy=False)
    n_conn = int(conn.max()) + 1
    by_conn = flows.set_index("conn")
    first = by_conn["first_ts_ns"].reindex(range(n_conn)).to_numpy(np.int64)
    kind = packets["kind"]
    kind_codes = (kind.cat.codes.to_numpy() if isinstance(kind.dtype, pd.CategoricalDtype) and list(kind.cat.categories) == _KINDS
                  else pd.Index(_KINDS).get_indexer(kind.astype(str).to_numpy(object)))
    if order is not None:
        kind_codes = kind_codes[order]
    ack = packets["ack"].array
    if not isinstance(ack, pd.arrays.IntegerArray):
        ack = pd.array(ack, dtype="Int64")
    ack = ack.copy() if order is None else ack.take(order)
    flag_codes = column("flags").astype(np.int64) & (len(TCPDUMP_NAMES) - 1)
    flow_names = by_conn["flow"].reindex(range(n_conn)).astype(object).to_numpy()
    rows = pd.DataFrame({
        "ts_ns": ts,
        "t_rel": (ts - first[conn]) / 1e9,
        "flow": strings_from_codes(conn, flow_names),
        "source": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[s.value for s in Source]),
        "actor": pd.Categorical.from_codes(np.where(column("from_client").astype(bool), 0, 1).astype(np.int8),
                                           categories=[a.value for a in Actor]),
        "kind": pd.Categorical.from_codes(kind_codes.astype(np.int8), categories=_KINDS),
        "frame": nullable_int(column("frame")),
        "flags": strings_from_codes(flag_codes, TCPDUMP_NAMES),
        "seq": nullable_int(column("seq")),
        "ack": ack,
        "seq_raw": nullable_int(column("seq_raw")),
        "ack_raw": nullable_int(column("ack_raw")),
        "len": nullable_int(column("len")),
        "errno": null_strings(n),
        "detail": null_strings(n),
    }, copy=False)  # every column above is a new array: no second copy of a million rows
    validate(rows)
    return rows
