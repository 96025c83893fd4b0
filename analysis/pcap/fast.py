"""The fast engine: stream the file through scan.py, decode with decode.py, build the table once.

Per-packet work is C (walk.py, decode.py's native path) or numpy; Python
runs once per window and once per distinct address or VLAN stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import damage
from .addresses import AddressBook
from .columns import packet_frame
from .decode import VLAN_BITS, Decoded, decode
from .formats import PCAP_MAGICS, PCAPNG_SHB_MAGIC
from .scan import CHUNK_BYTES, ScanState, scan_pcap, scan_pcapng
from .table import PACKET_COLUMNS, ReadReport, empty_packets

Progress = Callable[[int, int], None]


def _decoded_batches(path: Path, report: ReadReport, progress: Progress | None, chunk_bytes: int) -> Iterator[Decoded]:
    total = path.stat().st_size
    state = ScanState()
    header_cut = 0
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head in PCAP_MAGICS:
            batches = scan_pcap(f, total, state, chunk_bytes, str(path))
        elif head == PCAPNG_SHB_MAGIC:
            batches = scan_pcapng(f, total, state, chunk_bytes, str(path))
        else:
            raise damage.not_a_capture(path, head)
        for batch in batches:
            decoded = decode(batch)
            report.records = state.records
            report.non_tcp += decoded.non_tcp  # includes segments whose header was cut
            report.tcp_packets += len(decoded.frame)
            for name, count in decoded.skipped.items():
                report.skipped_linktypes[name] = report.skipped_linktypes.get(name, 0) + count
            header_cut += decoded.header_cut
            yield decoded
            if progress is not None:
                progress(state.bytes_read, total)
    report.records = state.records
    report.bytes_read = state.bytes_read
    report.warnings.extend(state.warnings)
    if header_cut:
        report.warnings.append(f"{header_cut} TCP segments had their 20-byte TCP header cut by the snaplen; not listed")
    if state.bad_ts_count:
        report.warnings.append(damage.bad_timestamps(state.bad_ts_count, state.bad_ts_first_frame))
    if progress is not None:
        progress(total, total)
    damage.finish(path, report)


def _vlan_strings(keys: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """'10;20' per row from the packed VLAN keys, formatted once per distinct stack."""
    codes, uniques = pd.factorize(keys)
    texts = [_vlan_text(key) for key in uniques.tolist()]
    return pd.array(pa.array(texts, pa.string()).take(pa.array(codes)), dtype="string")


#: Columns kept per batch until the table is built (addresses as AddressBook codes).
_KEPT = ("frame", "ts_ns", "iface", "vlan_key", "ip_version", "src", "dst", "sport", "dport",
         "flags", "seq_raw", "ack_raw", "len", "win", "truncated")


def _compact(decoded: Decoded, book: AddressBook) -> dict[str, np.ndarray]:
    """The batch's columns, with the 16-byte raw addresses replaced by int32 codes."""
    n = len(decoded.frame)
    codes = book.codes(np.concatenate([decoded.ip_version] * 2), np.concatenate([decoded.src, decoded.dst]))
    kept = {name: getattr(decoded, name) for name in _KEPT}
    kept["src"], kept["dst"] = codes[:n], codes[n:]
    return kept


def _frame_of(parts: list[dict[str, np.ndarray]], book: AddressBook, lean: bool = False) -> pd.DataFrame:
    """Concatenate column by column, dropping each column's pieces as soon as they are joined.

    ``lean``: src, dst and vlan as Categoricals over the distinct values instead of
    ``string`` columns (what the analysis pipeline needs, at a fraction of the memory).
    """
    if not parts or not sum(len(p["frame"]) for p in parts):
        return empty_packets()
    columns: dict[str, object] = {}
    for name in _KEPT:
        columns[name] = np.concatenate([p.pop(name) for p in parts])
    parts.clear()
    if lean:
        return _lean_frame(columns, book)
    columns["src"] = book.column(columns["src"])
    columns["dst"] = book.column(columns["dst"])
    columns["vlan"] = _vlan_strings(columns.pop("vlan_key"))
    return packet_frame(columns)


def _lean_frame(columns: dict[str, object], book: AddressBook) -> pd.DataFrame:
    """PACKET_COLUMNS in order and dtype, except src/dst/vlan: Categoricals (see _frame_of)."""
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


def plain_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A lean table (read(..., lean=True)) with src, dst and vlan as ``string`` columns again, as read() gives them."""
    out = table.copy(deep=False)
    for name in ("src", "dst", "vlan"):
        column = table[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            texts = pa.array(np.asarray(column.cat.categories, dtype=object).tolist(), pa.string())
            out[name] = pd.array(texts.take(pa.array(column.cat.codes.to_numpy())), dtype="string")
    return out


def _vlan_text(key: int) -> str:
    return ";".join(str((key >> (4 + VLAN_BITS * d)) & 0xFFF) for d in range(key & 0xF))


def read(path: str | Path, progress: Progress | None = None, chunk_bytes: int = CHUNK_BYTES,
         lean: bool = False) -> tuple[pd.DataFrame, ReadReport]:
    """The packet table; ``lean``: addresses and VLAN stacks as Categoricals (see _frame_of)."""
    report = ReadReport()
    book = AddressBook()
    parts = [_compact(d, book) for d in _decoded_batches(Path(path), report, progress, chunk_bytes)]
    return _frame_of(parts, book, lean), report


def iter_chunks(path: str | Path, chunk_records: int = 1 << 18, progress: Progress | None = None, report: ReadReport | None = None, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pd.DataFrame]:
    """Tables of about `chunk_records` rows each; `report` (if given) is filled as reading goes."""
    report = report if report is not None else ReadReport()
    book = AddressBook()
    pending: list[dict[str, np.ndarray]] = []
    rows = 0
    for decoded in _decoded_batches(Path(path), report, progress, chunk_bytes):
        pending.append(_compact(decoded, book))
        rows += len(decoded.frame)
        if rows >= chunk_records:
            yield _frame_of(pending, book)
            pending, rows = [], 0
    if pending:
        yield _frame_of(pending, book)
