"""Exports of the two core tables (the timeline, the connection table): csv, json, jsonl, parquet.

The one place that turns a table into a file format: the CLI, the run
bundle's timeline.csv and the golden tests all go through here. The column
names are the schema's (analysis.schema), verbatim.

- csv: a header line, then a row per line; ``t_rel`` and other floats to the nanosecond.
- json: one JSON document, an array with an object per row (``json.load`` reads it).
- jsonl: JSON Lines, an object per line (streams and greps well).
- parquet: written with pyarrow straight from the columns (no copy of the
  frame, no object columns): Int64 and float columns hand over their
  buffers, ``string`` columns are Arrow already, and the categorical columns
  are decoded from their few categories. The schema (types and the pandas
  metadata) is the one ``DataFrame.to_parquet`` would write, so
  ``pandas.read_parquet`` gives the same frame either way.

Text formats are written a slice of rows at a time, so a million-row
timeline never exists as one string.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from pathlib import Path
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

import pandas as pd

from analysis.errors import ExportError
from analysis.schema import CONNECTION_COLUMN_NAMES, COLUMN_NAMES, empty

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "json", "jsonl", "parquet")
#: table name (the CLI's --table) -> its columns, in export order
TABLES: dict[str, tuple[str, ...]] = {"timeline": COLUMN_NAMES, "connections": CONNECTION_COLUMN_NAMES}
#: rows per slice of a text export
TEXT_SLICE_ROWS = 1 << 16


def exportable(frame: pd.DataFrame, columns: tuple[str, ...] | list[str] = COLUMN_NAMES) -> pd.DataFrame:
    """The columns to export, categoricals as plain strings so that every reader sees the same values."""
    out = frame.loc[:, list(columns)].copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("string")
    return out


def to_csv_text(events: pd.DataFrame, columns: tuple[str, ...] | list[str] = COLUMN_NAMES) -> str:
    # t_rel to the nanosecond: the timeline's resolution, and stable text for goldens
    return exportable(events, columns).to_csv(index=False, float_format="%.9f", lineterminator="\n")


def export(frame: pd.DataFrame, format: str, output: Path | IO[str], table: str = "timeline") -> None:
    """Write ``frame`` (the ``table``: timeline or connections) as ``format`` to a path (or, for the text
    formats, an open text stream)."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
    columns = TABLES[table]
    if format == "parquet":
        write_parquet(frame, output, columns)
        return
    if isinstance(output, (str, Path)):
        with _writing(output), open(output, "w", encoding="utf-8") as stream:
            _write_text(frame, format, stream, columns)
    else:
        _write_text(frame, format, output, columns)


def _write_text(frame: pd.DataFrame, format: str, stream: IO[str], columns: tuple[str, ...]) -> None:
    text = _TextPieces(format, stream, columns)
    text.write(frame)
    text.close()


class _TextPieces:
    """A text export written a piece at a time (the header, the JSON array's brackets and commas once)."""

    def __init__(self, format: str, stream: IO[str], columns: tuple[str, ...]):
        self.format, self.stream, self.columns = format, stream, columns
        self.rows = 0
        self.headed = False  # csv: the header line is out
        if format == "json":
            stream.write("[")

    def write(self, frame: pd.DataFrame) -> None:
        for start in range(0, max(len(frame), 0 if self.headed else 1), TEXT_SLICE_ROWS):
            self._slice(frame.iloc[start:start + TEXT_SLICE_ROWS])

    def _slice(self, piece: pd.DataFrame) -> None:
        first = self.rows == 0
        self.rows += len(piece)
        if self.format == "csv":
            self.stream.write(exportable(piece, self.columns).to_csv(
                index=False, header=not self.headed, float_format="%.9f", lineterminator="\n"))
            self.headed = True
            return
        lines = exportable(piece, self.columns).to_json(orient="records", lines=True) if len(piece) else ""
        if self.format == "jsonl":
            self.stream.write(lines)
        elif lines:  # json: the same objects, comma-separated, inside one array (JSON text has no raw newline)
            self.stream.write(("" if first else ",") + "\n" + ",\n".join(lines.rstrip("\n").split("\n")))

    def close(self) -> None:
        if self.format == "json":
            self.stream.write("\n]\n")


@contextmanager
def _writing(output):
    """OSError while writing ``output`` -> ExportError naming the file and the reason."""
    try:
        yield
    except OSError as exc:
        raise ExportError(f"{output}: cannot write the export ({exc.strerror or exc})") from exc


def write_parquet(frame: pd.DataFrame, output: Path | str | IO[bytes], columns: tuple[str, ...] = COLUMN_NAMES) -> None:
    """``exportable(frame, columns).to_parquet(output, index=False)``, without copying the frame."""
    write_parquet_chunks([frame], output, arrow_schema(frame.iloc[:0], columns))


def arrow_schema(template: pd.DataFrame | None = None, columns: tuple[str, ...] = COLUMN_NAMES):
    """The Arrow schema (with the pandas metadata) of an export of ``columns`` of frames like ``template``
    (default: the timeline): what ``exportable(template, columns)`` converts to."""
    import pyarrow as pa

    return pa.Schema.from_pandas(exportable(empty() if template is None else template, columns), preserve_index=False)


def write_parquet_chunks(pieces: Iterable[pd.DataFrame | pa.RecordBatch], output: Path | str | IO[bytes],
                         schema=None) -> int:
    """Write pieces of one table (in order) as one parquet file, a row group or more per piece; the row count.

    A piece is a frame, or a record batch in ``schema`` (default: the
    timeline's arrow_schema(), which analysis.events.packets.arrow_chunks
    builds). ``pandas.read_parquet`` of the result equals that of
    ``write_parquet(pd.concat(pieces))``; only one piece's Arrow columns exist at a time.
    """
    schema = arrow_schema() if schema is None else schema
    rows = 0
    # One thread writes (encoding and compressing release the GIL) while this one builds the next piece.
    with _writing(output), _parquet_writer(output, schema) as writer, ThreadPoolExecutor(1) as pool:
        written = None
        for piece in pieces:
            table = _arrow_piece(piece, schema)
            rows += len(piece)
            del piece
            if written is not None:
                written.result()
            written = pool.submit(writer.write, table)
            del table
        if written is not None:
            written.result()
    return rows


def _parquet_writer(output, schema):
    """A pyarrow ParquetWriter storing each column as _STORAGE_BY_TYPE says."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text_columns = [field.name for field in schema if pa.types.is_large_string(field.type) or pa.types.is_string(field.type)]
    number_columns = [field.name for field in schema if field.name not in text_columns]
    storage = _column_storage(schema)
    return pq.ParquetWriter(output, schema, use_dictionary=text_columns, write_statistics=number_columns,
                            column_encoding={name: how[0] for name, how in storage.items() if how[0]},
                            compression={name: how[1] for name, how in storage.items()})


def _arrow_piece(piece, schema):
    """A piece (a frame, or a record batch in ``schema`` already) as what ParquetWriter.write takes."""
    import pyarrow as pa

    if isinstance(piece, pa.RecordBatch):
        return piece
    return pa.Table.from_arrays([_arrow_column(piece[field.name], field.type) for field in schema], schema=schema)


#: How each kind of column is stored in parquet: (encoding, compression), by Arrow type; None: the writer's
#: default (a dictionary, for text). Measured on a million packet rows: 0.29 s and 33 MB with snappy everywhere,
#: 0.21 s and 28 MB like this.
#: - integers: DELTA_BINARY_PACKED, uncompressed. Times, frames and sequence numbers step by small amounts;
#:   their deltas pack smaller than snappy gets them, at a fraction of the cost.
#: - floats (t_rel): BYTE_STREAM_SPLIT, then snappy (snappy alone barely shrinks doubles).
#: - text: a dictionary page (few distinct values: flows, flags, kinds), then snappy.
#: Min/max statistics go on the numbers only (time and frame ranges let readers skip row groups); on text
#: they cost a tenth of the write. No dictionary for numbers: nearly all distinct, a fifth of the write for nothing.
_STORAGE_BY_TYPE = (
    ("is_integer", ("DELTA_BINARY_PACKED", "none")),
    ("is_floating", ("BYTE_STREAM_SPLIT", "snappy")),
)


def _column_storage(schema) -> dict[str, tuple[str | None, str]]:
    import pyarrow as pa

    """Column name -> (encoding or None, compression), from _STORAGE_BY_TYPE (pyarrow.types predicates)."""
    storage = {}
    for field in schema:
        how = next((how for predicate, how in _STORAGE_BY_TYPE if getattr(pa.types, predicate)(field.type)), None)
        storage[field.name] = how or (None, "snappy")
    return storage


def _arrow_column(series: pd.Series, type_):
    import pyarrow as pa

    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = pa.array(series.cat.categories.astype("string").array, type=type_, from_pandas=True)
        codes = series.cat.codes.to_numpy()
        return categories.take(pa.array(codes, mask=codes < 0))
    values = series.array
    if isinstance(values, pd.arrays.IntegerArray) and not values.isna().any():  # no <NA>: hand the buffer over
        return pa.array(values.to_numpy(dtype=values.dtype.numpy_dtype), type=type_)
    return pa.array(values, type=type_, from_pandas=True)


class TableWriter:
    """One table written in pieces as a pass produces them (analysis.stream), as ``format``, to a path or a text
    stream.

    Everything goes to a temporary file first (beside the path, or in the temp folder for a stream) that
    :meth:`end` moves into place (or copies to the stream): an export cut short (Ctrl-C, an error) never passes
    for a whole one, and a pass run again (:meth:`start` once more) starts the file over. Parquet pieces are
    encoded on a writer thread while the pass goes on. A piece is a frame (schema dtypes) or, for parquet, an
    Arrow record batch in :attr:`schema`.
    """

    def __init__(self, format: str, output: Path | str | IO[str], table: str = "timeline",
                 template: pd.DataFrame | None = None, threaded: bool = True):
        if format not in FORMATS:
            raise ValueError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
        self.format, self.output, self.columns = format, output, TABLES[table]
        self.schema = arrow_schema(template, self.columns) if format == "parquet" else None
        self.rows, self.threaded = 0, threaded  # threaded: parquet encoded on a writer thread
        self._temp: Path | None = None
        self._text: _TextPieces | None = None
        self._stream: IO[str] | None = None
        self._parquet: _ParquetThread | None = None

    def start(self) -> None:
        self.abort()
        import tempfile

        folder = Path(self.output).parent if isinstance(self.output, (str, Path)) else None
        with _writing(self.output):
            handle, name = tempfile.mkstemp(prefix=".abortscope-", suffix=".partial", dir=folder)
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(handle, 0o666 & ~umask)  # what open() would have given the file (mkstemp: owner only)
        os.close(handle)
        self._temp, self.rows = Path(name), 0
        if self.format == "parquet":
            self._parquet = (_ParquetThread if self.threaded else _ParquetInline)(self._temp, self.schema)
        else:
            self._stream = open(self._temp, "w", encoding="utf-8")
            self._text = _TextPieces(self.format, self._stream, self.columns)

    def write(self, piece) -> None:
        self.rows += len(piece)
        if self._parquet is not None:
            self._parquet.put(piece)
        else:
            with _writing(self.output):
                self._text.write(piece)

    def end(self) -> int:
        """Finish the file and put it where it was asked for; the rows written."""
        with _writing(self.output):
            if self._parquet is not None:
                self._parquet.finish()
            else:
                self._text.close()
                self._stream.close()
            if isinstance(self.output, (str, Path)):
                os.replace(self._temp, self.output)
            else:
                with open(self._temp, encoding="utf-8") as written:
                    shutil.copyfileobj(written, self.output)
        self._temp.unlink(missing_ok=True)
        self._temp = None
        return self.rows

    def abort(self) -> None:
        """Stop writing and remove what was written (nothing is left of a cut-short export)."""
        if self._parquet is not None:
            self._parquet.cancel()
        if self._stream is not None:
            self._stream.close()
        self._parquet = self._stream = self._text = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


class _ParquetThread:
    """write_parquet_chunks on a thread, fed piece by piece (a bounded queue: the pass waits for a slow disk)."""

    _END = object()

    def __init__(self, path: Path, schema):
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet")
        self._done = self._pool.submit(write_parquet_chunks, self._pieces(), path, schema)

    def _pieces(self):
        while True:
            piece = self._queue.get()
            if piece is self._END or self._stop.is_set():
                return
            yield piece

    def put(self, piece) -> None:
        while not self._done.done():
            try:
                self._queue.put(piece, timeout=0.1)
                return
            except queue.Full:
                continue
        self._done.result()  # the writer failed: its error

    def finish(self) -> None:
        self.put(self._END)
        self._done.result()
        self._pool.shutdown()

    def cancel(self) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(self._END)
        except queue.Full:
            pass
        self._pool.shutdown(wait=True, cancel_futures=True)


class _ParquetInline:
    """_ParquetThread's interface, written in the caller's thread (a batch task: the workers are the parallelism)."""

    def __init__(self, path: Path, schema):
        self._schema = schema
        self._writer = _parquet_writer(path, schema)

    def put(self, piece) -> None:
        self._writer.write(_arrow_piece(piece, self._schema))

    def finish(self) -> None:
        self._writer.close()

    def cancel(self) -> None:
        self._writer.close()
