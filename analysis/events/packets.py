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

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.events._columns import null_strings, nullable_int
from analysis.schema import Actor, PacketKind, Source, conform, validate
from analysis.tcp.flags import TCPDUMP_NAMES

_KINDS = [k.value for k in PacketKind]


def _time_order(ts: np.ndarray) -> np.ndarray | None:
    """Stable order by time; None when the rows are in time order already (the usual case)."""
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        return None
    return np.argsort(ts, kind="stable")


#: parse_chunks' default slice: 64 Ki rows (~9 MB of timeline) at a time.
CHUNK_ROWS = 1 << 16


def parse(packets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    if len(packets) == 0:
        return _no_rows()
    return _rows(packets, _ConnTable(packets, flows), _time_order(packets["ts_ns"].to_numpy(np.int64)))


def parse_chunks(packets: pd.DataFrame, flows: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """parse()'s rows a slice at a time, in the same order: pd.concat of the pieces equals parse()."""
    n = len(packets)
    if n == 0:
        yield _no_rows()
        return
    order = _time_order(packets["ts_ns"].to_numpy(np.int64))
    conns = _ConnTable(packets, flows)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        yield _rows(packets, conns, np.arange(start, stop) if order is None else order[start:stop])


def _no_rows() -> pd.DataFrame:
    return conform(pd.DataFrame({"ts_ns": [], "t_rel": [], "source": [], "kind": []}))


class _ConnTable:
    """Per connection number: the first packet's time and the flow id."""

    def __init__(self, packets: pd.DataFrame, flows: pd.DataFrame):
        n_conn = int(packets["conn"].max()) + 1
        by_conn = flows.set_index("conn")
        # flows may be a filtered table (api: --flow/--port): connections it lacks have no rows here
        self.first_ts_ns = by_conn["first_ts_ns"].reindex(range(n_conn), fill_value=0).to_numpy(np.int64)
        flow = by_conn["flow"].reindex(range(n_conn), fill_value="").astype(object).to_numpy()
        self.flow = pa.array(flow, type=pa.large_string())  # converted once, taken from per slice


#: TCPDUMP_NAMES as Arrow strings, for taking by flag value.
_FLAG_NAMES = pa.array(TCPDUMP_NAMES, type=pa.large_string())


def _take_strings(names: pa.Array, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """names[codes] as a ``string`` array (what _columns.strings_from_codes builds), names already in Arrow."""
    index = pa.array(codes.astype(np.int64, copy=False), mask=codes < 0)
    return pd.arrays.ArrowStringArray(pc.take(names, index).cast(pa.large_string()))


def _rows(packets: pd.DataFrame, conns: _ConnTable, order: np.ndarray | None) -> pd.DataFrame:
    """Timeline rows of packets[order] (all packets, in table order, when order is None)."""

    def column(name: str) -> np.ndarray:  # always a new array: the timeline must not share buffers with the packets
        values = packets[name].to_numpy()
        return values.copy() if order is None else values[order]

    ts = column("ts_ns").astype(np.int64, copy=False)
    n = len(ts)
    conn = column("conn").astype(np.int64, copy=False)
    first = conns.first_ts_ns
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
    rows = pd.DataFrame({
        "ts_ns": ts,
        "t_rel": (ts - first[conn]) / 1e9,
        "flow": _take_strings(conns.flow, conn),
        "source": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[s.value for s in Source]),
        "actor": pd.Categorical.from_codes(np.where(column("from_client").astype(bool), 0, 1).astype(np.int8),
                                           categories=[a.value for a in Actor]),
        "kind": pd.Categorical.from_codes(kind_codes.astype(np.int8), categories=_KINDS),
        "frame": nullable_int(column("frame")),
        "flags": _take_strings(_FLAG_NAMES, flag_codes),
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
