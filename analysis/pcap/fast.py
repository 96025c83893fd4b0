"""The fast engine: stream.py reads the file window by window; here the pieces become the table, once.

Per-packet work is C (csrc/: walk.py, decode.py's and addresses.py's
native paths) or numpy; Python runs once per window and once per distinct
address or VLAN stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .addresses import AddressBook
from .columns import empty_packets, packet_frame
from .decode import VLAN_BITS
from .scan import CHUNK_BYTES
from .stream import KEPT, Progress, collect, compact, decoded_batches
from .table import PACKET_COLUMNS, ReadReport


def _vlan_strings(keys: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """'10;20' per row from the packed VLAN keys, formatted once per distinct stack."""
    codes, uniques = pd.factorize(keys)
    texts = [_vlan_text(key) for key in uniques.tolist()]
    return pd.array(pa.array(texts, pa.string()).take(pa.array(codes)), dtype="string")


def table_of(parts: list[dict[str, np.ndarray]], book: AddressBook, lean: bool = False) -> pd.DataFrame:
    """The packet table from stream.py's pieces: joined column by column, each column's pieces dropped once joined.

    ``lean``: src, dst and vlan as Categoricals over the distinct values instead of
    ``string`` columns (what the analysis pipeline needs, at a fraction of the memory).
    """
    if not parts or not sum(len(p["frame"]) for p in parts):
        return empty_packets()
    columns: dict[str, object] = {}
    for name in KEPT:
        columns[name] = np.concatenate([p.pop(name) for p in parts])
    sides = [AddressBook.book_column_codes(p.pop("addresses"), p.pop("book_codes")) for p in parts]
    columns["src"] = np.concatenate([src for src, _ in sides])
    columns["dst"] = np.concatenate([dst for _, dst in sides])
    del sides
    parts.clear()
    if lean:
        return _lean_frame(columns, book)
    columns["src"] = book.column(columns["src"])
    columns["dst"] = book.column(columns["dst"])
    columns["vlan"] = _vlan_strings(columns.pop("vlan_key"))
    return packet_frame(columns)


def _lean_frame(columns: dict[str, object], book: AddressBook) -> pd.DataFrame:
    """PACKET_COLUMNS in order and dtype, except src/dst/vlan: Categoricals (see table_of)."""
    if len(set(book.texts)) == len(book.texts):  # distinct texts (always, in practice): the book's codes are category codes
        addresses, remap = pd.Index(book.texts, dtype=object), None
    else:  # two raw forms with one text: share a category
        remap, addresses = pd.factorize(pd.Index(book.texts, dtype=object))
    for name in ("src", "dst"):
        codes = columns[name] if remap is None else remap[columns[name]]
        columns[name] = pd.Categorical.from_codes(codes, categories=addresses)
    codes, keys = pd.factorize(columns.pop("vlan_key"))
    columns["vlan"] = pd.Categorical.from_codes(codes, categories=pd.Index([_vlan_text(k) for k in keys.tolist()], dtype=object))
    data = {}
    for name, (dtype, _) in PACKET_COLUMNS.items():
        values = columns.pop(name)
        data[name] = values if isinstance(values, pd.Categorical) else np.asarray(values).astype(dtype, copy=False)
    return pd.DataFrame(data, copy=False)


def _vlan_text(key: int) -> str:
    return ";".join(str((key >> (4 + VLAN_BITS * d)) & 0xFFF) for d in range(key & 0xF))


def read(path: str | Path, progress: Progress | None = None, chunk_bytes: int = CHUNK_BYTES,
         lean: bool = False) -> tuple[pd.DataFrame, ReadReport]:
    """The packet table; ``lean``: addresses and VLAN stacks as Categoricals (see table_of)."""
    report = ReadReport()
    book = AddressBook()
    parts = collect(Path(path), report, book, progress, chunk_bytes)
    return table_of(parts, book, lean), report


def iter_chunks(path: str | Path, chunk_records: int = 1 << 18, progress: Progress | None = None, report: ReadReport | None = None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pd.DataFrame]:
    """Tables of about `chunk_records` rows each; `report` (if given) is filled as reading goes."""
    report = report if report is not None else ReadReport()
    book = AddressBook()
    pending: list[dict[str, np.ndarray]] = []
    rows = 0
    for decoded in decoded_batches(Path(path), report, progress, chunk_bytes):
        pending.append(compact(decoded, book))
        rows += len(decoded.frame)
        if rows >= chunk_records:
            yield table_of(pending, book)
            pending, rows = [], 0
    if pending:
        yield table_of(pending, book)
