"""Packet table + flows -> timeline rows (source ``packet``), one per TCP segment.

Takes the packets annotated by analysis.tcp.flows.assign_connections
(``conn``, ``from_client``, relative ``seq``/``ack``, ``kind``); ``conn``
goes to the timeline as it is. ``detail`` is left empty
for packets (keeps a million-row timeline lean); ``frame`` links back to the
capture. The columns are built once (_row_columns), vectorised, then
wrapped: as a frame in the schema dtypes (parse, checked with
schema.validate), or as Arrow record batches for the streamed parquet
export (arrow_chunks).

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
from analysis.schema import TIMELINE_COLUMNS, Actor, PacketKind, Source, conform, validate
from analysis.tcp.flags import TCPDUMP_NAMES

_KINDS = [k.value for k in PacketKind]


def _time_order(ts: np.ndarray) -> np.ndarray | None:
    """Stable order by time; None when the rows are in time order already (the usual case)."""
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        return None
    return np.argsort(ts, kind="stable")


#: arrow_chunks' default slice: 64 Ki rows (~9 MB of timeline) at a time.
CHUNK_ROWS = 1 << 16


def parse(packets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    if len(packets) == 0:
        return _no_rows()
    return _rows(_row_columns(packets, _ConnTable(packets, flows), _time_order(packets["ts_ns"].to_numpy(np.int64))))


def arrow_chunks(packets: pd.DataFrame, flows: pd.DataFrame, schema: pa.Schema,
                 chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """parse()'s rows a slice at a time, in the same order, as Arrow record batches in ``schema``: the
    export's (analysis.export.arrow_schema, with the categoricals as text). The streamed parquet export
    writes these. They are built from the columns with no DataFrame in between: 0.10 s a million rows,
    where frames converted back to Arrow took 0.13-0.19 s, holding the GIL that the connections' facts,
    worked out meanwhile, need."""
    for columns in _slices(packets, flows, chunk_rows):
        yield _arrow_rows(columns, schema)


def _slices(packets: pd.DataFrame, flows: pd.DataFrame, chunk_rows: int) -> Iterator[dict[str, object]]:
    order = _time_order(packets["ts_ns"].to_numpy(np.int64))
    conns = _ConnTable(packets, flows)
    n = len(packets)
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        yield _row_columns(packets, conns, np.arange(start, stop) if order is None else order[start:stop])


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


def _take_strings(names: pa.Array, codes: np.ndarray) -> pa.Array:
    """names[codes] (an Arrow large_string array); a negative code gives null."""
    index = pa.array(codes.astype(np.int64, copy=False), mask=codes < 0)
    return pc.take(names, index).cast(pa.large_string())


_DTYPES = {column.name: column.dtype for column in TIMELINE_COLUMNS}
#: The categorical columns' categories, in code order.
_CATEGORIES = {"source": [s.value for s in Source], "actor": [a.value for a in Actor], "kind": _KINDS}


def _row_columns(packets: pd.DataFrame, conns: _ConnTable, order: np.ndarray | None) -> dict[str, object]:
    """The timeline columns of packets[order] (all packets, in table order, when order is None), each in the
    form both _rows and _arrow_rows start from: numpy int64/float64 values, an Int64 array (``ack``, which
    has <NA>), Arrow text, int8 codes into _CATEGORIES, or None (all null)."""

    def column(name: str) -> np.ndarray:  # always a new array: the timeline must not share buffers with the packets
        values = packets[name].to_numpy()
        return values.copy() if order is None else values[order]

    ts = column("ts_ns").astype(np.int64, copy=False)
    conn = column("conn").astype(np.int64, copy=False)
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
    return {
        "ts_ns": ts,
        "t_rel": (ts - conns.first_ts_ns[conn]) / 1e9,
        "flow": _take_strings(conns.flow, conn),
        "conn": conn,
        "source": np.zeros(len(ts), np.int8),
        "actor": np.where(column("from_client").astype(bool), 0, 1).astype(np.int8),
        "pid": None,
        "kind": kind_codes.astype(np.int8),
        "frame": column("frame").astype(np.int64, copy=False),
        "flags": _take_strings(_FLAG_NAMES, flag_codes),
        "seq": column("seq").astype(np.int64, copy=False),
        "ack": ack,
        "seq_raw": column("seq_raw").astype(np.int64, copy=False),
        "ack_raw": column("ack_raw").astype(np.int64, copy=False),
        "len": column("len").astype(np.int64, copy=False),
        "errno": None,
        "detail": None,
    }


def _rows(columns: dict[str, object]) -> pd.DataFrame:
    """_row_columns as a timeline frame (schema dtypes), checked with schema.validate."""
    n = len(columns["ts_ns"])
    frame = {}
    for name, values in columns.items():
        if name in _CATEGORIES:
            frame[name] = pd.Categorical.from_codes(values, categories=_CATEGORIES[name])
        elif values is None:
            frame[name] = null_strings(n) if _DTYPES[name] == "string" else nullable_int(np.zeros(n), np.zeros(n))
        elif isinstance(values, pa.Array):
            frame[name] = pd.arrays.ArrowStringArray(values)
        elif _DTYPES[name] == "Int64" and isinstance(values, np.ndarray):
            frame[name] = nullable_int(values)
        else:
            frame[name] = values
    rows = pd.DataFrame(frame, copy=False)  # every column above is a new array: no second copy of a million rows
    validate(rows)
    return rows


def _arrow_rows(columns: dict[str, object], schema: pa.Schema) -> pa.RecordBatch:
    """_row_columns as an Arrow record batch in ``schema`` (its types; the categoricals as their text)."""
    n = len(columns["ts_ns"])
    arrays = []
    for field in schema:
        values = columns[field.name]
        if field.name in _CATEGORIES:
            arrays.append(pa.array(_CATEGORIES[field.name], type=field.type).take(pa.array(values)))
        elif values is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(values, pa.Array):
            arrays.append(values.cast(field.type))
        else:  # numpy values hand their buffer over; the Int64 array brings its mask
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
