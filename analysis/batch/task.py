"""One capture of a batch, analyzed into its partition of the dataset: what a Dask worker runs.

A capture is a file or a directory of its pieces (analysis.stream.files).
Its partitions are ``DATASET/connections/capture=ID/part-0.parquet`` (the
connection table) and ``DATASET/timeline/capture=ID/part-0.parquet`` (the
packet rows), written by one streamed pass (analysis.stream) in bounded
memory, each through a temporary file moved into place at the end. The
result is the capture's manifest entry; a capture that cannot be analyzed
is an entry with its error, and leaves no partition.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from analysis.stream.files import expand

CONNECTIONS, TIMELINE = "connections", "timeline"
PART = "part-0.parquet"
_HASH_BLOCK = 1 << 22


def sha256_of(input_path: str | Path) -> str:
    """The capture's sha256: of the file, or of its pieces' names and contents (a directory, in name order)."""
    digest = hashlib.sha256()
    paths = expand([input_path])
    for path in sorted(paths):
        if len(paths) > 1:
            digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            while block := f.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def partition(dataset: Path, table: str, capture_id: str) -> Path:
    return dataset / table / f"capture={capture_id}"


def analyze(input_path: str, capture_id: str, dataset: str, done_sha256: str | None = None,
            timeline: bool = True) -> dict:
    """Analyze one capture into its partitions; its manifest entry (``status`` ok, skipped or error).

    ``done_sha256``: the sha256 the dataset already has this capture for; the same again is skipped."""
    started, began = time.perf_counter(), time.time()
    entry = {"capture": capture_id, "input": str(Path(input_path).resolve()), "sha256": None}
    try:
        entry["sha256"] = sha256 = sha256_of(input_path)
        if sha256 == done_sha256:
            return {**entry, "status": "skipped"}
        entry.update(_write(Path(input_path), capture_id, Path(dataset), timeline))
        return {**entry, "status": "ok", "seconds": round(time.perf_counter() - started, 3),
                "started": round(began, 3), "finished": round(time.time(), 3)}
    except Exception as exc:  # this capture's failure is its entry; the others go on
        for table in (CONNECTIONS, TIMELINE):
            shutil.rmtree(partition(Path(dataset), table, capture_id), ignore_errors=True)
        return {**entry, "status": "error", "error": f"{type(exc).__name__}: {exc}"}


def _write(input_path: Path, capture_id: str, dataset: Path, timeline: bool) -> dict:
    from analysis.api import read_passes
    from analysis.export import TableWriter
    from analysis.inputs import resolve
    from analysis.stream.exports import _connection_template, _ConnectionFile, _TimelineFile
    from analysis.stream.timeline import TimelineRows

    inputs = resolve(input_path)
    folders = {table: partition(dataset, table, capture_id) for table in (CONNECTIONS, TIMELINE)}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    if not inputs.packets_only:  # a run bundle: its event logs need every connection first (analysis.api)
        return _write_loaded(inputs, folders, timeline)
    # one thread: the workers, a core each, are the parallelism; a task's own threads would only contend
    table = _ConnectionFile(TableWriter("parquet", folders[CONNECTIONS] / PART, "connections",
                                        _connection_template(), threaded=False), None, None, threaded=False)
    outputs = [table]
    rows = None
    if timeline:
        rows = TimelineRows(_TimelineFile(TableWriter("parquet", folders[TIMELINE] / PART, threaded=False)),
                            inputs.captures.names)
        outputs.append(rows)
    result, source = read_passes(inputs, outputs, {"threads": False})
    return {"files": list(inputs.captures.names), "packets": result.packets, "connections": table.rows,
            "timeline_rows": rows.rows if rows is not None else 0, "warnings": list(source.report.warnings)}


def _write_loaded(inputs, folders: dict[str, Path], timeline: bool) -> dict:
    from analysis.api import load_inputs
    from analysis.export import export

    loaded = load_inputs(inputs)
    export(loaded.connections, "parquet", folders[CONNECTIONS] / PART, table=CONNECTIONS)
    rows = 0
    if timeline:
        events = loaded.events
        export(events, "parquet", folders[TIMELINE] / PART)
        rows = len(events)
    return {"files": list(inputs.captures.names), "packets": len(loaded.packets), "connections": len(loaded.flows),
            "timeline_rows": rows, "warnings": list(loaded.report.warnings) + list(loaded.warnings)}
