"""Packet table + flows -> timeline rows (source ``packet``), one per TCP segment.

Takes the packets annotated by analysis.tcp (build_flows, ConnectionFold)
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

The streamed pass (analysis.stream) builds a batch's rows at a time
(:func:`columns`), keeps a sorted tail of them back until no later packet
can be older (:func:`joined`, :func:`taken`), and wraps what it lets go
(:func:`arrow_rows` for parquet, :func:`frame` for the text formats).
"""

from __future__ import annotations


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


#: Rows per slice written (a parquet row group, a text slice): 64 Ki rows, about 9 MB of timeline.
CHUNK_ROWS = 1 << 16
#: Per row: the timeline columns, each as _row_columns builds them (see there).
Columns = dict[str, object]


class Coded(tuple):
    """A text column as (codes, dictionary): int64 codes into a pyarrow string array (-1: null). Rows are moved
    and joined as codes; the text is made only when written (:func:`frame`, :func:`arrow_rows`)."""

    def __new__(cls, codes: np.ndarray, dictionary: pa.Array):
        return super().__new__(cls, (np.asarray(codes, dtype=np.int64), dictionary))

    def text(self) -> pa.Array:
        return _take_strings(self[1], self[0])


def parse(packets: pd.DataFrame, flows: pd.DataFrame, files: tuple[str, ...] = ("",)) -> pd.DataFrame:
    """The timeline rows of annotated packets (analysis.tcp.build_flows), in timeline order. ``files``: the names
    of the capture files the packets' ``file`` column numbers."""
    if len(packets) == 0:
        return _no_rows()
    conns = ConnIds.of(flows)
    return frame(_row_columns(packets, conns, _time_order(packets["ts_ns"].to_numpy(np.int64)), files))


def columns(packets: pd.DataFrame, conns: ConnIds, files: tuple[str, ...]) -> Columns:
    """The timeline columns of a batch of annotated packets, in the batch's order."""
    return _row_columns(packets, conns, None, files)


def _no_rows() -> pd.DataFrame:
    return conform(pd.DataFrame({"ts_ns": [], "t_rel": [], "source": [], "kind": []}))


class ConnIds:
    """Per connection number: the first packet's time and the flow id, for the connections rows name."""

    def __init__(self, conn: np.ndarray, first_ts_ns: np.ndarray, flow: pa.Array):
        order = np.argsort(conn, kind="stable")
        self.conn = np.asarray(conn, dtype=np.int64)[order]
        self.first_ts_ns = np.asarray(first_ts_ns, dtype=np.int64)[order]
        self.flow = flow.take(pa.array(order)) if len(order) else flow  # converted once, taken from per slice

    @classmethod
    def of(cls, flows: pd.DataFrame) -> ConnIds:
        return cls(flows["conn"].to_numpy(np.int64), flows["first_ts_ns"].to_numpy(np.int64),
                   pa.array(flows["flow"].astype(object).to_numpy(), type=pa.large_string()))

    def index(self, conn: np.ndarray) -> np.ndarray:
        """Position of each row's connection here; -1 where it is not (flows filtered by --flow/--port)."""
        if not len(self.conn):
            return np.full(len(conn), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.conn, conn), len(self.conn) - 1)
        return np.where(self.conn[at] == conn, at, -1)


#: TCPDUMP_NAMES as Arrow strings, for taking by flag value.
_FLAG_NAMES = pa.array(TCPDUMP_NAMES, type=pa.large_string())


def _take_strings(names: pa.Array, codes: np.ndarray) -> pa.Array:
    """names[codes] (an Arrow large_string array); a negative code gives null."""
    index = pa.array(codes.astype(np.int64, copy=False), mask=codes < 0)
    return pc.take(names, index).cast(pa.large_string())


_DTYPES = {column.name: column.dtype for column in TIMELINE_COLUMNS}
#: The categorical columns' categories, in code order (``file``'s are the capture's files).
_CATEGORIES = {"source": [s.value for s in Source], "actor": [a.value for a in Actor], "kind": _KINDS}


def _row_columns(packets: pd.DataFrame, conns: ConnIds, order: np.ndarray | None, files: tuple[str, ...]) -> Columns:
    """The timeline columns of packets[order] (all packets, in table order, when order is None), each in the
    form both frame() and arrow_rows() start from: numpy int64/float64 values, an Int64 array (``ack``, which
    has <NA>), Coded text, int8 codes into the categories, or None (all null)."""

    def column(name: str) -> np.ndarray:  # always a new array: the timeline must not share buffers with the packets
        values = packets[name].to_numpy()
        return values.copy() if order is None else values[order]

    ts = column("ts_ns").astype(np.int64, copy=False)
    at = conns.index(column("conn").astype(np.int64, copy=False))
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
    file_codes = column("file") if "file" in packets.columns else np.zeros(len(ts), np.int64)
    return {
        "ts_ns": ts,
        "t_rel": (ts - conns.first_ts_ns[np.maximum(at, 0)]) / 1e9 if len(conns.conn) else np.zeros(len(ts)),
        "flow": Coded(at, conns.flow),
        "conn": column("conn").astype(np.int64, copy=False),
        "source": np.zeros(len(ts), np.int8),
        "actor": np.where(column("from_client").astype(bool), 0, 1).astype(np.int8),
        "pid": None,
        "kind": kind_codes.astype(np.int8),
        "frame": column("frame").astype(np.int64, copy=False),
        "file": Coded(file_codes, pa.array(list(files), pa.large_string())),
        "flags": Coded(flag_codes, _FLAG_NAMES),
        "seq": column("seq").astype(np.int64, copy=False),
        "ack": ack,
        "seq_raw": column("seq_raw").astype(np.int64, copy=False),
        "ack_raw": column("ack_raw").astype(np.int64, copy=False),
        "len": column("len").astype(np.int64, copy=False),
        "errno": None,
        "detail": None,
    }


def _length(columns: Columns) -> int:
    return len(columns["ts_ns"])


def joined(first: Columns, second: Columns) -> Columns:
    """The rows of ``first`` then those of ``second``."""
    out: Columns = {}
    for name, a in first.items():
        b = second[name]
        if a is None:
            out[name] = None
        elif isinstance(a, Coded):
            same = a[1] is b[1] or a[1].equals(b[1])
            codes = b[0] if same else np.where(b[0] >= 0, b[0] + len(a[1]), -1)
            out[name] = Coded(np.concatenate([a[0], codes]), a[1] if same else pa.concat_arrays([a[1], b[1]]))
        elif isinstance(a, pd.arrays.IntegerArray):
            out[name] = pd.arrays.IntegerArray(np.concatenate([a._data, b._data]), np.concatenate([a._mask, b._mask]))
        else:
            out[name] = np.concatenate([a, b])
    return out


def taken(columns: Columns, index: np.ndarray | slice) -> Columns:
    """These rows (positions, in this order, or a slice: then numpy views)."""
    out: Columns = {}
    for name, values in columns.items():
        if values is None:
            out[name] = None
        elif isinstance(values, Coded):
            out[name] = Coded(values[0][index], values[1])
        else:
            out[name] = values[index]
    return out


def compacted(columns: Columns) -> Columns:
    """The same rows, each Coded column's dictionary cut to the entries the rows use (for rows kept a while)."""
    out = dict(columns)
    for name, values in columns.items():
        if isinstance(values, Coded) and len(values[1]) > len(values[0]):
            codes = values[0]
            used, inverse = np.unique(codes[codes >= 0], return_inverse=True)
            renumbered = np.full(len(codes), -1, dtype=np.int64)
            renumbered[codes >= 0] = inverse
            out[name] = Coded(renumbered, values[1].take(pa.array(used, type=pa.int64())))
    return out


def frame(columns: Columns) -> pd.DataFrame:
    """Columns as a timeline frame (schema dtypes), checked with schema.validate."""
    n = _length(columns)
    out = {}
    for name, values in columns.items():
        if name in _CATEGORIES:
            out[name] = pd.Categorical.from_codes(values, categories=_CATEGORIES[name])
        elif isinstance(values, Coded) and _DTYPES[name] == "category":
            out[name] = pd.Categorical.from_codes(values[0], categories=pd.Index(values[1].to_pylist(), dtype=object))
        elif values is None:
            out[name] = null_strings(n) if _DTYPES[name] == "string" else nullable_int(np.zeros(n), np.zeros(n))
        elif isinstance(values, Coded):
            out[name] = pd.arrays.ArrowStringArray(values.text())
        elif _DTYPES[name] == "Int64" and isinstance(values, np.ndarray):
            out[name] = nullable_int(values)
        else:
            out[name] = values
    rows = pd.DataFrame(out, copy=False)  # every column above is a new array: no second copy of a million rows
    validate(rows)
    return rows


def arrow_rows(columns: Columns, schema: pa.Schema) -> pa.RecordBatch:
    """Columns as an Arrow record batch in ``schema`` (its types; the categoricals as their text)."""
    n = _length(columns)
    arrays = []
    for field in schema:
        values = columns[field.name]
        if field.name in _CATEGORIES:
            arrays.append(pa.array(_CATEGORIES[field.name], type=field.type).take(pa.array(values)))
        elif values is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(values, Coded):
            arrays.append(values.text().cast(field.type))
        else:  # numpy values hand their buffer over; the Int64 array brings its mask
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
