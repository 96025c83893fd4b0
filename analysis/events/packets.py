"""Packet table + flows -> timeline rows (source ``packet``), one per TCP segment.

Takes the packets annotated by analysis.tcp.build_flows (``conn``,
``from_client``, relative ``seq``/``ack``, ``kind``). ``detail`` is left empty
for packets (keeps a million-row timeline lean); ``frame`` links back to the
capture. The columns are built in their schema dtypes directly (see
_columns.py), so this stays vectorised at millions of rows; the result is
checked with schema.validate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.events._columns import null_strings, nullable_int, strings_from_codes
from analysis.schema import Actor, PacketKind, Source, conform, validate
from analysis.tcp.flags import TCPDUMP_NAMES

_KINDS = [k.value for k in PacketKind]


def parse(packets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    if len(packets) == 0:
        return conform(pd.DataFrame({"ts_ns": [], "t_rel": [], "source": [], "kind": []}))
    n = len(packets)
    conn = packets["conn"].to_numpy(np.int64)
    ts = packets["ts_ns"].to_numpy(np.int64)
    first = flows.set_index("conn")["first_ts_ns"].reindex(range(int(conn.max()) + 1)).to_numpy(np.int64)
    kind = packets["kind"]
    kind_codes = (kind.cat.codes.to_numpy() if isinstance(kind.dtype, pd.CategoricalDtype) and list(kind.cat.categories) == _KINDS
                  else pd.Index(_KINDS).get_indexer(kind.astype(str).to_numpy(object)))
    ack = packets["ack"].array
    flag_codes = packets["flags"].to_numpy(np.int64) & (len(TCPDUMP_NAMES) - 1)
    flow_names = flows.set_index("conn")["flow"].reindex(range(int(conn.max()) + 1)).astype(object).to_numpy()
    rows = pd.DataFrame({
        "ts_ns": ts,
        "t_rel": (ts - first[conn]) / 1e9,
        "flow": strings_from_codes(conn, flow_names),
        "source": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[s.value for s in Source]),
        "actor": pd.Categorical.from_codes(np.where(packets["from_client"].to_numpy(bool), 0, 1).astype(np.int8),
                                           categories=[a.value for a in Actor]),
        "kind": pd.Categorical.from_codes(kind_codes.astype(np.int8), categories=_KINDS),
        "frame": nullable_int(packets["frame"].to_numpy(np.int64)),
        "flags": strings_from_codes(flag_codes, TCPDUMP_NAMES),
        "seq": nullable_int(packets["seq"].to_numpy(np.int64)),
        "ack": ack if isinstance(ack, pd.arrays.IntegerArray) else pd.array(ack, dtype="Int64"),
        "seq_raw": nullable_int(packets["seq_raw"].to_numpy(np.int64)),
        "ack_raw": nullable_int(packets["ack_raw"].to_numpy(np.int64)),
        "len": nullable_int(packets["len"].to_numpy(np.int64)),
        "errno": null_strings(n),
        "detail": null_strings(n),
    })
    validate(rows)
    return rows
