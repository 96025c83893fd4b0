"""Packet table + flows -> timeline rows (source ``packet``), one per TCP segment.

Takes the packets annotated by analysis.tcp.build_flows (``conn``,
``from_client``, relative ``seq``/``ack``, ``kind``). ``detail`` is left empty
for packets (keeps a million-row timeline lean); ``frame`` links back to the
capture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.schema import Source, conform
from analysis.tcp.flags import tcpdump_names


def parse(packets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    if len(packets) == 0:
        return conform(pd.DataFrame({"ts_ns": [], "source": [], "kind": []}))
    conn = packets["conn"].to_numpy(np.int64)
    flow_codes = pd.Categorical.from_codes(conn, categories=flows["flow"].astype(str).to_numpy())
    actor = np.where(packets["from_client"].to_numpy(bool), "client", "server")
    rows = pd.DataFrame({
        "ts_ns": packets["ts_ns"].to_numpy(np.int64),
        "flow": flow_codes,
        "source": pd.Categorical.from_codes(np.zeros(len(packets), np.int8), categories=[s.value for s in Source]),
        "actor": pd.Categorical(actor, categories=["client", "server"]),
        "kind": pd.Categorical(packets["kind"].to_numpy()),
        "frame": packets["frame"].to_numpy(np.int64),
        "flags": tcpdump_names(packets["flags"].to_numpy()),
        "seq": packets["seq"].to_numpy(np.int64),
        "ack": packets["ack"].array,
        "seq_raw": packets["seq_raw"].to_numpy(np.int64),
        "ack_raw": packets["ack_raw"].to_numpy(np.int64),
        "len": packets["len"].to_numpy(np.int64),
    })
    return conform(rows)
